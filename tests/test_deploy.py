"""The Kubernetes manifests (deploy/k8s) against the Kubernetes 1.37 schema bundled in
kubernetes-validate (offline, strict: unknown fields fail), and what they must say: workers ready on
/readyz and draining on preStop, autoscaled on the live-calls metric the service exports, HAProxy's
configuration exactly what deploy/haproxy.py generates, PostgreSQL external."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from deploy.haproxy import render

K8S = Path(__file__).resolve().parents[1] / "deploy" / "k8s"
KUBERNETES = "1.37.0"


def _documents() -> list[dict]:
    return [doc for path in sorted(K8S.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc]


def _find(kind: str, name: str) -> dict:
    return next(d for d in _documents() if d["kind"] == kind and d["metadata"]["name"] == name)


def test_every_manifest_is_valid_kubernetes() -> None:
    documents = _documents()
    assert len(documents) >= 12
    for document in documents:
        kubernetes_validate.validate(document, KUBERNETES, strict=True)
    broken = {**_find("Deployment", "medvoice-worker")}
    broken["spec"] = {**broken["spec"], "replica": 2}  # a misspelt field
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


def test_workers_are_ready_on_free_slots_drain_and_scale_on_live_calls() -> None:
    pod = _find("Deployment", "medvoice-worker")["spec"]["template"]["spec"]
    [worker] = pod["containers"]
    assert worker["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert "/drain" in " ".join(worker["lifecycle"]["preStop"]["exec"]["command"])
    assert pod["terminationGracePeriodSeconds"] >= 600  # a call may last minutes
    hpa = _find("HorizontalPodAutoscaler", "medvoice-worker")["spec"]
    assert hpa["scaleTargetRef"]["name"] == "medvoice-worker"
    metric = hpa["metrics"][0]["pods"]["metric"]["name"]
    app_source = (K8S.parents[1] / "agent" / "app.py").read_text()
    assert f"{metric} " in app_source  # the metric /metrics exports
    assert _find("Service", "medvoice-postgres")["spec"]["type"] == "ExternalName"
    assert _find("Deployment", "medvoice-vllm")["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"][
        "nvidia.com/gpu"] == 1


def test_the_haproxy_configmap_is_the_generated_config() -> None:
    config = _find("ConfigMap", "medvoice-haproxy")["data"]
    expected = render(["medvoice-workers.medvoice.svc.cluster.local:8000"], "*:8080", dns_servers=50,
                      error_file="/usr/local/etc/haproxy/503.http", maxconn=20000)
    assert config["haproxy.cfg"] == expected
    assert config["503.http"] == (K8S.parent / "haproxy" / "503.http").read_text()


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="Debian's haproxy is not installed (make system)")
def test_haproxy_accepts_the_kubernetes_config(tmp_path: Path) -> None:
    config = _find("ConfigMap", "medvoice-haproxy")["data"]
    (tmp_path / "503.http").write_text(config["503.http"])
    text = config["haproxy.cfg"].replace("/usr/local/etc/haproxy/503.http", str(tmp_path / "503.http"))
    (tmp_path / "haproxy.cfg").write_text(text.replace("maxconn 20000", "maxconn 1000"))
    check = subprocess.run(["haproxy", "-c", "-f", str(tmp_path / "haproxy.cfg")], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_kamailio_configmap_is_the_checked_config() -> None:
    config = _find("ConfigMap", "medvoice-kamailio")["data"]
    assert config["kamailio.cfg"] == (K8S.parent / "kamailio" / "kamailio.cfg").read_text()
    assert _find("Service", "medvoice-kamailio")["spec"]["ports"][0]["protocol"] == "UDP"


@pytest.mark.skipif(shutil.which("kamailio") is None, reason="Debian's kamailio is not installed (make system)")
def test_kamailio_accepts_its_config() -> None:
    check = subprocess.run(["kamailio", "-c", "-f", str(K8S.parent / "kamailio" / "kamailio.cfg")],
                           capture_output=True, text=True)
    assert check.returncode == 0 and "config file ok" in (check.stdout + check.stderr).lower(), check.stderr
