# SmartCourse front door. `make run` and `make test` work on a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.9
# One third-party dependency layer per service (pyproject.toml's groups), plus the platform functions' (core only).
SERVICE_LAYERS := lms notification ai analytics
# The AWS emulator of `make run` and the tests: moto (default) or localstack (host mode, from its own virtualenv,
# whose pins never constrain the project's: requirements/localstack.lock).
AWS_EMULATOR ?= moto
LOCALSTACK_VENV := .venv-localstack
EMULATOR_INSTALL := $(if $(filter localstack,$(AWS_EMULATOR)),localstack-install)

export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export PYTHONPATH := $(CURDIR):$(CURDIR)/layers/core/python:$(CURDIR)/layers/lms/python:$(CURDIR)/layers/notification/python:$(CURDIR)/layers/ai/python:$(CURDIR)/layers/analytics/python:$(CURDIR)/events:$(CURDIR)/localstack:$(CURDIR)/functions
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)
export AWS_EMULATOR

.PHONY: help install run test test-unit lint lock synth bench bench-events bench-ai bench-analytics bench-cold bench-burst clean openapi mail browser report replay fuzz \
	localstack-install lock-localstack test-localstack test-localstack-e2e

help:  ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: $(VENV)/.installed node_modules/.installed browser  ## virtualenv + Python packages + project-local CDK CLI + Chromium

# Debian's chromium + chromium-driver for the report browser check (apt-get when missing; silent when present).
browser:
	@tests/support/install_chromium.sh

$(VENV)/.installed: requirements/dev.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@test -x $(UV) || $(PY) -m pip install --quiet uv==$(UV_VERSION)
	$(UV) pip sync --quiet --python $(PY) requirements/dev.lock
	@touch $@

localstack-install: $(LOCALSTACK_VENV)/.installed  ## LocalStack (AWS_EMULATOR=localstack) in its own virtualenv

$(LOCALSTACK_VENV)/.installed: requirements/localstack.lock $(VENV)/.installed
	@test -x $(LOCALSTACK_VENV)/bin/python || $(PYTHON) -m venv $(LOCALSTACK_VENV)
	$(UV) pip sync --quiet --require-hashes --python $(LOCALSTACK_VENV)/bin/python requirements/localstack.lock
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

lock:  ## re-resolve pyproject.toml into requirements/*.lock
	$(UV) lock --python $(PY)
	$(UV) export --frozen --no-emit-project --no-default-groups --format requirements-txt -o requirements/platform.lock
	for layer in $(SERVICE_LAYERS); do \
	  $(UV) export --frozen --no-emit-project --no-default-groups --group $$layer --format requirements-txt \
	    -o requirements/$$layer.lock || exit 1; \
	done
	$(UV) export --frozen --no-emit-project --all-groups --format requirements-txt -o requirements/dev.lock

lock-localstack: $(VENV)/.installed  ## re-resolve requirements/localstack.in into requirements/localstack.lock
	$(UV) pip compile --quiet --python-version 3.11 --generate-hashes requirements/localstack.in \
	  -o requirements/localstack.lock

# Local-only defaults for the seeded admin (documented in the README); override from the environment.
run: export SMARTCOURSE_ADMIN_EMAIL ?= admin@smartcourse.local
run: export SMARTCOURSE_ADMIN_PASSWORD ?= Admin-change-me-1
run: install $(EMULATOR_INSTALL)  ## start the local cloud (PostgreSQL, Kafka, AWS emulator, APIs on 8000/8001/8002), seeded (AWS_EMULATOR=localstack)
	$(PY) -m localcloud up

report: $(VENV)/.installed  ## build the scheduled reports now in the running local cloud (KIND=weekly|daily)
	@case "$(KIND)" in \
	  weekly) fn=analytics-weekly-digests ;; \
	  daily) fn=analytics-daily-platform-report ;; \
	  *) echo "usage: make report KIND=weekly|daily" >&2; exit 2 ;; \
	esac; $(PY) -m localcloud invoke $$fn

replay: $(VENV)/.installed  ## rebuild the analytics read models from the event archive in the running local cloud (FORCE=1: even an empty one)
	@$(PY) -m smartcourse_analytics.replay $(if $(FORCE),--force)

mail:  ## the latest emails and SMS sent by the local cloud (LIMIT=n, JSON=1)
	@$(PY) -m localcloud mail --limit $${LIMIT:-10} $(if $(JSON),--json)

test: install lint  ## lint, then the whole suite: unit, integration, e2e, infrastructure
	$(PY) -m pytest

fuzz: install  ## the API fuzzing test run long (FUZZ_EXAMPLES per operation and role, FUZZ_SECONDS per API and role, FUZZ_SEED)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-50} FUZZ_SECONDS=$${FUZZ_SECONDS:-120} $(PY) -m pytest tests/e2e/platform/test_fuzz.py -s

# The tests that talk to AWS, against LocalStack instead of moto.
test-localstack: install localstack-install  ## the integration and e2e suites with LocalStack as the AWS emulator
	AWS_EMULATOR=localstack $(PY) -m pytest tests/integration tests/e2e

test-localstack-e2e: install localstack-install  ## the e2e suite with LocalStack (CI's LocalStack run)
	AWS_EMULATOR=localstack $(PY) -m pytest tests/e2e

test-unit: install
	$(PY) -m pytest tests/unit

lint: install  ## ruff + mypy + the import boundaries between services (import-linter, pyproject.toml)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy layers/core/python layers/lms/python layers/notification/python layers/ai/python layers/analytics/python events stacks localstack/localcloud functions app.py
	$(VENV)/bin/lint-imports --no-cache --no-logo

.PHONY: events  # a directory named events/ exists, so without this make would call the target up to date
events:  ## export event JSON Schemas to docs/events/
	$(PY) -m stacks.events_export --out docs/events

synth: install  ## cdk synth for a stage (STAGE=dev|staging|prod), offline
	cdk synth -c stage=$${STAGE:-dev} --quiet

openapi: install  ## export each API's OpenAPI document to docs/openapi/
	$(PY) -m stacks.openapi_export --out docs/openapi

bench: install  ## benchmarks, figures written to docs/benchmarks.md
	$(PY) -m tests.benchmarks.run

bench-events: install  ## only the event path (outbox drain, commit → consumer latency); rewrites its section
	BENCH_ONLY=events $(PY) -m tests.benchmarks.run

bench-ai: install  ## only the AI sections (retrieval evaluation, AI performance); rewrites them
	BENCH_ONLY=ai $(PY) -m tests.benchmarks.run

bench-cold: install  ## only the init of every API function and its FastAPI + Mangum peer (median of 5); rewrites that section
	BENCH_ONLY=cold $(PY) -m tests.benchmarks.run

bench-burst: install  ## only the burst: 100 virtual users for 60 s against the local cloud (~3 min); rewrites that section
	BENCH_ONLY=burst $(PY) -m tests.benchmarks.run

bench-analytics: install  ## only the analytics section (1,000,000 events: ingest, reads, report, replay; ~15 min); rewrites it
	BENCH_ONLY=analytics $(PY) -m tests.benchmarks.run

clean:
	rm -rf cdk.out .build .localcloud/runtime
