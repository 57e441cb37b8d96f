#!/usr/bin/env bash
# A local cluster: PostgreSQL (shared, left running), N medvoice workers and HAProxy in front.
#   scripts/cluster.sh up [--workers N] [--port P]   (HAProxy on P, default 8100; workers on P+1..P+N)
#   scripts/cluster.sh down | status
# MEDVOICE_* variables pass through to the workers. See deploy/cluster.py and deploy/README.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} HF_HUB_OFFLINE=1
exec "$root/.venv/bin/python" -m deploy.cluster "$@"
