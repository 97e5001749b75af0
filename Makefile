# filinglake — developer commands. `make` (or `make help`) lists them.
#
# Needs only GNU make, bash and python3.11: `make install` fetches uv from PyPI when it is missing
# and builds .venv from the committed uv.lock. Docker is never required (only `make up` uses it).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
UV_VERSION ?= 0.13.9
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
# Lives inside .venv, so deleting the venv also forgets that it was installed.
INSTALL_STAMP := $(VENV)/.filinglake-installed

# Airflow pools, one per upstream host, declared once (the format `airflow pools import` reads);
# docker-compose.yml and the tests import the same file.
POOLS_FILE := $(CURDIR)/deploy/airflow/pools.json

# Tests and the demo read the captured responses from here unless the caller says otherwise.
export FILINGLAKE_FIXTURES ?= $(abspath $(CURDIR)/../shared/fixtures)
# uv must never try to download an interpreter (GitHub is out of reach): use the system's python3.11.
export UV_PYTHON_DOWNLOADS := never

PYTEST_ARGS ?=

.PHONY: help install test demo bench bench-history airflow lint clean up down stack-test

help:  ## list the targets
	@echo "filinglake — make targets:"
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-zA-Z_-]*:.*## / {printf "  %-11s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: $(INSTALL_STAMP)  ## create .venv from uv.lock (dev tools included); fast when up to date

$(INSTALL_STAMP): pyproject.toml uv.lock
	@if command -v uv >/dev/null 2>&1; then uv=(uv); else \
	  if ! $(PYTHON) -m uv --version >/dev/null 2>&1; then \
	    echo "uv not found: installing uv==$(UV_VERSION) from PyPI into the user site of $(PYTHON)"; \
	    $(PYTHON) -m pip install --user --quiet "uv==$(UV_VERSION)" 2>/dev/null \
	      || $(PYTHON) -m pip install --user --quiet --break-system-packages "uv==$(UV_VERSION)"; \
	  fi; \
	  uv=($(PYTHON) -m uv); \
	fi; \
	echo "$$("$${uv[@]}" --version): sync --frozen -p $(PYTHON) --compile-bytecode"; \
	"$${uv[@]}" sync --frozen -p $(PYTHON) --compile-bytecode
	@touch $@

# --- local Airflow: embedded SQLite, examples off, this checkout's dags/ and plugins/ -------------

# Every Airflow command here runs with this environment. The venv's bin must be on PATH:
# `airflow standalone` starts its components as plain `airflow ...` subprocesses.
# (Passed per command rather than as target-specific exports, which would leak into `install`.)
AIRFLOW_ENV = AIRFLOW__CORE__LOAD_EXAMPLES=False \
	AIRFLOW__CORE__DAGS_FOLDER="$(CURDIR)/dags" \
	AIRFLOW__CORE__PLUGINS_FOLDER="$(CURDIR)/plugins" \
	PATH="$(BIN):$$PATH"
# Tests get a throwaway home; the demo and the UI share .airflow/ (SQLite inside it).
LOCAL_HOME ?= $(CURDIR)/.airflow
TEST_ENV = $(AIRFLOW_ENV) AIRFLOW_HOME="$(CURDIR)/.airflow-test"
LOCAL_ENV = $(AIRFLOW_ENV) AIRFLOW_HOME="$(LOCAL_HOME)" \
	AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///$(LOCAL_HOME)/airflow.db" \
	PYTHONPATH="$(CURDIR)/include$${PYTHONPATH:+:$$PYTHONPATH}"

test: install  ## run the test suite (PYTEST_ARGS="-k storage" to narrow it)
	@mkdir -p .airflow-test
	$(TEST_ENV) $(BIN)/pytest -q $(PYTEST_ARGS)

demo: install  ## run the DAGs once with dag.test() against a local replay server
	@mkdir -p "$(LOCAL_HOME)"
	$(LOCAL_ENV) $(BIN)/python scripts/demo.py

bench: install  ## run the benchmark (bench/bench.py)
	$(BIN)/python bench/bench.py

QUARTERS ?= 16
bench-history: install  ## opt-in: backfill QUARTERS synthetic quarters end to end with ingest + publish (135: all of EDGAR)
	$(BIN)/python bench/full_history.py $(QUARTERS) $(if $(ROOT),--root $(ROOT))

# `make airflow`: the UI and the Execution API listen on loopback only (nobody else on the network
# reaches the SimpleAuthManager login); DAGs start paused; at most 4 task processes.
AIRFLOW_PORT ?= 8080
UI_ENV = AIRFLOW__API__HOST=127.0.0.1 AIRFLOW__API__PORT=$(AIRFLOW_PORT) \
	AIRFLOW__API__BASE_URL=http://127.0.0.1:$(AIRFLOW_PORT) \
	AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://127.0.0.1:$(AIRFLOW_PORT)/execution/ \
	AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=True AIRFLOW__CORE__PARALLELISM=4

airflow: install  ## Airflow UI, scheduler and friends on http://127.0.0.1:8080 (DAGs paused; Ctrl-C stops)
	@mkdir -p "$(LOCAL_HOME)"
	$(LOCAL_ENV) $(BIN)/airflow db migrate
	$(LOCAL_ENV) $(BIN)/airflow pools import "$(POOLS_FILE)"
	@echo "Airflow UI: http://127.0.0.1:$(AIRFLOW_PORT) (this machine only). User 'admin', password in $(LOCAL_HOME)/simple_auth_manager_passwords.json.generated"
	@echo "Every DAG starts PAUSED. Unpausing an ingest DAG (or publish_filings) calls the REAL SEC, CNINFO and HKEXnews hosts:"
	@echo "  set FILINGLAKE_SEC_USER_AGENT='Your Name you@example.com' first, or try the DAGs offline with 'make demo'."
	@echo "Ctrl-C stops Airflow and every process it started."
	$(LOCAL_ENV) $(UI_ENV) exec $(BIN)/python scripts/airflow_standalone.py $(BIN)/airflow

lint: install  ## ruff over the whole project (includes Airflow 3 rules AIR3)
	$(BIN)/ruff check .

clean:  ## remove local data, Airflow homes and caches (keeps .venv)
	rm -rf data .airflow .airflow-test .pytest_cache .ruff_cache
	find . -path ./.venv -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

# --- the scale-out stack -------------------------------------------------------------------------

# `make up` (Celery workers) or `make up LOCAL=1` (one machine: docker-compose.local.yml, LocalExecutor).
COMPOSE_FILES = -f docker-compose.yml $(if $(LOCAL),-f docker-compose.local.yml)
WORKERS ?= 1

up:  ## start docker-compose.yml (needs Docker and .env; WORKERS=3 for three workers, LOCAL=1 for one machine)
	@test -f .env || { echo "No .env: copy .env.example to .env and fill in every value." >&2; exit 1; }
	docker compose $(COMPOSE_FILES) up -d --build $(if $(LOCAL),,--scale airflow-worker=$(WORKERS))

down:  ## stop the compose stack (data volumes are kept)
	docker compose $(COMPOSE_FILES) down

# The same components without Docker: Debian's PostgreSQL, Redis and Chromium (installed when missing, as
# root), moto, the replay server; 8½–10 min on a shared 2-core machine. Screenshots and logs in build/stack/. CI runs it.
stack-test: install  ## run the Celery stack on this machine against the fixtures and check it end to end
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v redis-server >/dev/null \
	    || ! command -v chromium >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get install -y -q postgresql redis-server chromium >/dev/null \
	    || { apt-get update -q && apt-get install -y -q postgresql redis-server chromium >/dev/null; }; \
	  else echo "stack-test needs PostgreSQL, Redis and Chromium: apt-get install -y postgresql redis-server chromium" \
	    "(as root on Debian; this machine: uid $$(id -u), apt-get $$(command -v apt-get || echo missing))" >&2; exit 1; fi; \
	fi
	$(BIN)/python scripts/stack_test.py
