# previewbot — developer entry points. `make test` works from a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TESTBED := $(PY) -m tests.cluster.testbed
# Parallel test workers; the cluster itself also needs CPU on a 2-core machine.
TEST_WORKERS ?= 2

.PHONY: help venv deps testbed cluster-up cluster-down test unit lint bench demo demo-down clean

help:
	@echo "make test         install, build/reuse the test bed, run every test"
	@echo "make demo         the whole loop on this machine (again: fast, a fresh MR story)"
	@echo "make demo-down    stop what make demo started"
	@echo "make cluster-up   start the local cluster + Redis (prints the exports to use them)"
	@echo "make cluster-down stop them"
	@echo "make lint         ruff, mypy --strict, import-linter"
	@echo "make bench        every benchmark (~15 min) -> bench/results.json + README Performance"

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

venv: $(VENV)/.installed

# System packages the test bed needs (Debian); installed only when missing.
deps:
	@command -v redis-server >/dev/null || { \
	  echo "[deps] installing redis-server (Debian package)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }
	@command -v go >/dev/null || { echo "[deps] Go is required to build the test bed"; exit 1; }

testbed: venv deps
	bash tests/cluster/build.sh >/dev/null

cluster-up: testbed
	@$(TESTBED) up

cluster-down: venv
	@$(TESTBED) down

lint: venv
	$(VENV)/bin/ruff check bot handlers tests bench
	$(VENV)/bin/mypy --strict bot handlers
	$(VENV)/bin/lint-imports

# Runs $(1) with the test bed's environment. Starts the bed unless one is running (then
# reuses it and leaves it up; one that was running with an older configuration is
# restarted and also left up); a bed it started is stopped again afterwards.
define with_testbed
@set -e; \
	state=$${PREVIEWBOT_TESTBED_STATE:-.testbed}; \
	if [ -f "$$state/testbed.json" ]; then started=0; else started=1; fi; \
	$(TESTBED) env >/dev/null 2>&1 || $(TESTBED) up >/dev/null; \
	trap 'if [ $$started = 1 ]; then $(TESTBED) down; fi' EXIT; \
	eval "$$($(TESTBED) env)"; \
	$(1)
endef

# Starts the test bed unless one is already running (then reuses it and leaves it up; a bed
# that was running with an older configuration is restarted and also left up).
test: testbed lint
	$(call with_testbed,$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadgroup --durations=15 tests)

# Every bench/ script against the test bed (started and stopped again unless one is
# running, as for `make test`); writes bench/results.json and regenerates the README's
# "Performance" section from it. Progress on stderr.
bench: testbed
	$(call with_testbed,$(PY) bench/run.py; $(PY) bench/readme.py)

unit: venv
	$(VENV)/bin/pytest -q tests/unit

# The test bed (reused when running), previewbot serve and the GitLab/Slack stand-ins keep
# running after the story, until demo-down; state in .demo/ (PREVIEWBOT_DEMO_STATE moves it).
demo: testbed
	@$(PY) -m tests.demo up

demo-down: venv
	@$(PY) -m tests.demo down

clean: demo-down cluster-down
	rm -rf $(VENV) .testbed .demo .pytest_cache .mypy_cache .ruff_cache
