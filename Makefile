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

.PHONY: help install install-serve sam events dev gateway build migrate reconcile psql lint test bench clean clean-data

help:
	@echo "make dev        serve the API on http://localhost:\$$DEV_PORT (8000), starting PostgreSQL and S3 unless"
	@echo "                configured; the first run installs what serving needs (about 25 s, 265 MB)"
	@echo "make gateway    the same behind the API Gateway emulator, functions invoked in-process"
	@echo "make migrate    apply the SQL migrations (to the running make dev's PostgreSQL unless DATABASE_URL is set)"
	@echo "make reconcile  list objects without rows and rows without objects, on make dev's stores unless"
	@echo "                DATABASE_URL / S3_ENDPOINT_URL are set (ARGS=--apply deletes the objects)"
	@echo "make psql       psql on the running make dev's PostgreSQL (or DATABASE_URL); ARGS='-c \"select 1\"'"
	@echo "make test       lint, type-check and run the test suite (installs the test tools first)"
	@echo "make lint       ruff and mypy only"
	@echo "make bench      run the benchmarks and write docs/benchmarks.md"
	@echo "make build      sam build (no containers) into .aws-sam/build, with precompiled bytecode"
	@echo "make events     regenerate the functions' sample events with sam local generate-event"
	@echo "make install    the venv with everything (make dev installs only what it needs)"
	@echo "make clean-data delete what make dev keeps in DEV_DATA_DIR (asks first)"
	@echo "make clean      delete the venvs, .aws-sam and the tools' caches (keeps .local-data)"
	@echo
	@echo "Variables:"
	@echo "  DEV_PORT=8001      the port of make dev / make gateway (default 8000)"
	@echo "  DEV_HOST=0.0.0.0   the address they listen on (default 127.0.0.1)"
	@echo "  DEV_DATA_DIR=DIR   where make dev keeps PostgreSQL's data and the images (default .local-data)"
	@echo "  PYTEST_ARGS='-q tests/local'  what make test passes to pytest (then it runs only that)"
	@echo "  ARGS=--apply       make reconcile's options (--apply, --delete-rows, --grace-minutes), or psql's"
	@echo "  PYTHON=/path/to/python3.12  the interpreter the venvs are made from"

# Two stamps: serving needs only requirements-serve.txt, so the first `make dev` installs that
# alone; the test and tooling stack is added on top when a target needs it.
$(BIN)/.serve-installed: requirements-serve.txt layers/common/requirements.txt functions/thumbnail/requirements.txt
	@test -n "$(PYTHON)" || { echo "Python 3.12 is required (set PYTHON=/path/to/python3.12)"; exit 1; }
	@test -x $(BIN)/python || { echo "Creating $(VENV) with what serving needs (once; about 25 s and 265 MB)"; \
		$(PYTHON) -m venv $(VENV) && $(BIN)/pip install --quiet --upgrade pip; }
	$(BIN)/pip install --quiet -r requirements-serve.txt
	touch $@

$(BIN)/.installed: requirements-dev.txt $(BIN)/.serve-installed
	@echo "Adding the test and tooling stack to $(VENV) (once)"
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install-serve: $(BIN)/.serve-installed

install: $(BIN)/.installed

dev: install-serve
	$(BIN)/python -m local.devserver

gateway: install-serve
	$(BIN)/python -m local.gateway

# Lambda's /var/task and /opt are read-only, so without shipped bytecode every cold start
# compiles the layer again; unchecked-hash .pyc files stay valid whatever the zip does to mtimes.
build: sam
	PATH="$(dir $(PYTHON)):$$PATH" $(SAM_VENV)/bin/sam build --template template.yaml --build-dir .aws-sam/build --cached
	$(PYTHON) -m compileall -q -j 0 --invalidation-mode unchecked-hash .aws-sam/build

bench: install sam
	$(BIN)/python -m bench

# These use the running `make dev`'s stores (DEV_DATA_DIR/stack.env) for whatever the shell does not set.
migrate: install-serve
	$(BIN)/python -m local.stackenv $(BIN)/python -m imageapi.store.migrate

reconcile: install-serve
	$(BIN)/python -m local.stackenv $(BIN)/python -m imageapi.store.reconcile $(ARGS)

psql: install-serve
	$(BIN)/python -m local.stackenv psql $(ARGS)

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
