# One command each: `make dev` serves the API locally, `make test` runs the whole suite.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Lambda runs Python 3.12; so do the venv and `sam build`.
PYTHON ?= $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12 /usr/bin/python3.12; do \
	$$p -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .tools/sam
export PYTHONPATH := $(CURDIR)/layers/common:$(CURDIR)
export SAM_CLI_TELEMETRY := 0

.PHONY: help install sam events dev gateway build migrate reconcile lint test bench clean clean-data

help:
	@echo "make dev        serve the API on http://localhost:8000 (starts PostgreSQL and S3 unless configured)"
	@echo "make test       lint, type-check and run the test suite"
	@echo "make migrate    apply the SQL migrations to DATABASE_URL"
	@echo "make reconcile  list objects without rows and rows without objects (ARGS=--apply deletes the objects)"
	@echo "make gateway    the API Gateway emulator on http://localhost:8000, functions invoked in-process"
	@echo "make build      sam build (no containers) into .aws-sam/build, with precompiled bytecode"
	@echo "make bench      run the benchmarks and write docs/benchmarks.md"
	@echo "make clean-data delete what make dev keeps in .local-data (asks first)"

$(BIN)/.installed: requirements-dev.txt layers/common/requirements.txt functions/thumbnail/requirements.txt
	@test -n "$(PYTHON)" || { echo "Python 3.12 is required (set PYTHON=/path/to/python3.12)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

dev: install
	$(BIN)/python -m local.devserver

gateway: install
	$(BIN)/python -m local.gateway

# Lambda's /var/task and /opt are read-only, so without shipped bytecode every cold start
# compiles the layer again; unchecked-hash .pyc files stay valid whatever the zip does to mtimes.
build: sam
	PATH="$(dir $(PYTHON)):$$PATH" $(SAM_VENV)/bin/sam build --template template.yaml --build-dir .aws-sam/build --cached
	$(PYTHON) -m compileall -q -j 0 --invalidation-mode unchecked-hash .aws-sam/build

bench: install sam
	$(BIN)/python -m bench

migrate: install
	$(BIN)/python -m imageapi.store.migrate

reconcile: install
	$(BIN)/python -m imageapi.store.reconcile $(ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy layers/common functions local tests bench

# Then, for the whole suite only, the HTTP contract again with the layer behind Debian's
# pgbouncer in transaction mode, which treats clients as RDS Proxy does.
test: lint sam
	$(BIN)/pytest $(PYTEST_ARGS)
	@if [ -n "$(PYTEST_ARGS)" ]; then exit 0; fi; \
	if command -v pgbouncer >/dev/null || test -x /usr/sbin/pgbouncer; then \
		echo "tests/http and tests/functions again, behind pgbouncer (pool_mode = transaction)"; \
		TEST_THROUGH_PGBOUNCER=1 $(BIN)/pytest -q tests/http tests/functions; \
	elif [ "$$CI" = true ]; then echo "pgbouncer is not installed: the run behind a pooling proxy cannot run" >&2; exit 1; \
	else echo "pgbouncer not installed (apt-get install pgbouncer): the run behind a pooling proxy is skipped"; fi

clean:
	rm -rf $(VENV) .tools .aws-sam .pytest_cache .mypy_cache .ruff_cache

# The images and rows `make dev` keeps: asks first, and refuses while a dev server uses them.
DEV_DATA_DIR ?= .local-data
clean-data:
	@test -e "$(DEV_DATA_DIR)" || { echo "$(DEV_DATA_DIR) does not exist: nothing to delete"; exit 0; }; \
	if command -v flock >/dev/null && test -e "$(DEV_DATA_DIR)/owner.lock" \
		&& ! flock -n "$(DEV_DATA_DIR)/owner.lock" true; then \
		echo "$(DEV_DATA_DIR) is in use by $$(cat "$(DEV_DATA_DIR)/owner.lock"): stop it first"; exit 1; fi; \
	read -r -p "Delete $(DEV_DATA_DIR) (the local PostgreSQL data and every stored image)? [y/N] " answer; \
	if [ "$$answer" = y ] || [ "$$answer" = Y ]; then rm -rf "$(DEV_DATA_DIR)" && echo "deleted $(DEV_DATA_DIR)"; \
	else echo "kept $(DEV_DATA_DIR)"; fi

# SAM CLI pins its own boto3, so it lives in a venv of its own.
$(SAM_VENV)/.installed: requirements-sam.txt
	@test -n "$(PYTHON)" || { echo "Python 3.12 is required (set PYTHON=/path/to/python3.12)"; exit 1; }
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet -r requirements-sam.txt
	touch $@

sam: $(SAM_VENV)/.installed

events: install sam
	$(BIN)/python -m local.generate_events
