# Thin wrappers; each target installs what it needs first (idempotent, quick when done).
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
export PGPASSWORD ?= $(or $(CAREBASE_DB_PASSWORD),postgres)
DB_PORT := $(or $(CAREBASE_DB_PORT),54322)

.PHONY: up down reset test lint pgtap pytest bench bench-encryption bench-gateway bench-audit bench-realtime bench-storage bench-webhooks bench-scale bench-codes bench-dicom bench-engagement bench-revenue bench-pdf install system firebase-tools js-clients splinter

up: install
	@$(BIN)/carebase up

down:
	@if [ -x $(BIN)/carebase ]; then $(BIN)/carebase down; else echo "nothing to stop"; fi

reset: install
	@$(BIN)/carebase db reset

# The suite signs in far more than 100 times from 127.0.0.1; the limits themselves are tested
# in-process (tests/test_sidecar_api.py, tests/test_adversarial_auth.py).
test: export CAREBASE_SIDECAR_AUTH_RATE_LIMIT ?= 100000/15 minutes
test: export CAREBASE_AUTH_RATE_LIMIT_SIGN_IN_SIGN_UPS ?= 100000
test: export CAREBASE_AUTH_RATE_LIMIT_TOKEN_REFRESH ?= 100000
test: install lint
	@$(BIN)/carebase up
	@$(MAKE) --no-print-directory pgtap pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/sqlfluff lint supabase sql tests/fixtures devstack/lint

pgtap: export PGOPTIONS = -c client_min_messages=warning
pgtap:
	pg_prove --host 127.0.0.1 --port $(DB_PORT) --username postgres --dbname postgres \
		--ext .sql --recurse supabase/tests

pytest:
	$(BIN)/pytest

# Benchmarks, on demand only (never part of `make test`); figures go to bench/REPORT.md.
# `make bench` runs them all; each target runs one. All but the scale bench use `make up`'s
# stack; the scale bench its own (bench/scale_stack.py), on the data set SIZE (demo, large or xl):
#   make bench-scale SIZE=demo BENCH_ARGS=--quick
SIZE ?= large
bench: bench-gateway bench-audit bench-realtime bench-storage bench-webhooks bench-codes bench-dicom bench-encryption bench-engagement bench-revenue bench-pdf bench-scale

bench-gateway: install
	@$(BIN)/carebase up >/dev/null
	$(BIN)/python bench/gateway_overhead.py

bench-audit: install
	@$(BIN)/carebase up >/dev/null
	$(BIN)/python bench/audit_overhead.py

bench-realtime: install
	@$(BIN)/carebase up >/dev/null
	$(BIN)/python bench/realtime_fanout.py

bench-storage: install
	@$(BIN)/carebase up >/dev/null
	$(BIN)/python bench/storage_upload.py

bench-webhooks: install
	@$(BIN)/carebase up >/dev/null
	$(BIN)/python bench/webhook_throughput.py $(BENCH_ARGS)

bench-codes: install
	@$(BIN)/carebase up >/dev/null
	$(BIN)/python bench/diagnosis_code_search.py

bench-dicom: install
	@$(BIN)/carebase up >/dev/null
	$(BIN)/python bench/dicom_ingestion.py

# No stack: the PDF rendering alone, in this process.
bench-pdf: install
	$(BIN)/python -m bench.pdf_render $(BENCH_ARGS)

bench-encryption: install
	@$(BIN)/carebase up >/dev/null
	$(BIN)/python bench/encryption.py

bench-engagement: install
	$(BIN)/python bench/engagement_analytics.py $(BENCH_ARGS)

bench-revenue: install
	@$(BIN)/carebase up >/dev/null
	$(BIN)/python bench/revenue_report.py $(BENCH_ARGS)

bench-scale: install
	$(BIN)/python bench/scale.py --size $(SIZE) $(BENCH_ARGS)

install: system $(VENV)/.installed firebase-tools js-clients splinter

system:
	@bash devstack/install-system-packages.sh

# Supabase's database linter itself (npm @postgres-language-server/cli, pinned), beside ours.
splinter:
	@bash devstack/lint/install.sh

# The Firebase Auth emulator for the patient phone login (npm firebase-tools, pinned).
firebase-tools:
	@bash devstack/firebase/install.sh

js-clients: firebase-tools
	@bash tests/js/install.sh

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --editable '.[dev]'
	touch $@
