"""Scale-out configuration: HAProxy config generation, the local cluster, Kubernetes manifests.

``deploy.haproxy`` writes the balancer's configuration for a list of workers; ``scripts/cluster.sh``
runs PostgreSQL, the workers and HAProxy on one machine; ``deploy/k8s`` holds the manifests.
"""

__all__ = ["haproxy"]
