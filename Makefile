# Joopang — the two commands a newcomer needs are `make run` and `make test`.
# Everything else is here for operators and contributors; `make help` lists it.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PORT   ?= 8000
# The payment sandbox (the built-in stand-in for a payment provider) that `make run` starts.
SANDBOX_PORT ?= 8765
# The reference data-platform receiver (signed webhook batches of the outbox relay) that `make run` starts.
RECEIVER_PORT ?= 8766
STAMP  := $(VENV)/.installed
REQS   := requirements/base.txt requirements/prod.txt requirements/dev.txt
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help venv messages migrate seed run test test-fast e2e lint typecheck schema bench soak clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): $(REQS)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (found %s)" % sys.version.split()[0])'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/dev.txt
	@touch $(STAMP)

venv: $(STAMP) ## create .venv and install requirements/dev.txt

messages: $(STAMP) ## compile the ko/en gettext catalogs (pure Python, no GNU gettext needed)
	@$(PY) manage.py compile_catalogs

migrate: messages ## apply migrations to the configured database
	$(PY) manage.py migrate --noinput

seed: migrate ## load demo data (idempotent: running it twice creates nothing new)
	$(PY) manage.py seed_demo

RUN_ENV = SANDBOX_PORT=$(SANDBOX_PORT) PAYMENT_PROVIDER_URL=$${PAYMENT_PROVIDER_URL:-http://127.0.0.1:$(SANDBOX_PORT)} \
	RECEIVER_PORT=$(RECEIVER_PORT) DATA_PLATFORM_WEBHOOK_URL=$${DATA_PLATFORM_WEBHOOK_URL:-http://127.0.0.1:$(RECEIVER_PORT)/} \
	DATA_PLATFORM_WEBHOOK_SECRET=$${DATA_PLATFORM_WEBHOOK_SECRET:-dev-webhook-secret-not-for-production}

run: seed ## set up, then start web + Celery worker + beat + payment sandbox + event receiver on http://127.0.0.1:$(PORT)
	@$(RUN_ENV) $(PY) manage.py run_banner --port $(PORT)
	@PORT=$(PORT) $(RUN_ENV) $(VENV)/bin/honcho start --no-colour -e /dev/null -f Procfile.dev -p $(PORT)

test: messages ## run the whole test suite (SQLite by default; DATABASE_URL/REDIS_URL switch it)
	$(PY) -m pytest -n auto --dist loadfile $(PYTEST_ARGS)

e2e: messages ## browser tests only (headless Chromium)
	$(PY) -m pytest tests/e2e $(PYTEST_ARGS)

lint: $(STAMP) ## ruff and the import-linter layering contracts
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: $(STAMP) ## mypy
	$(VENV)/bin/mypy apps joopang

schema: $(STAMP) ## regenerate docs/openapi.yaml from the code
	$(PY) manage.py spectacular --api-version v1 --lang en --file docs/openapi.yaml --validate

bench: messages ## benchmark on PostgreSQL + gunicorn; writes bench/results/latest.{json,md}
	$(PY) -m bench.run

soak: messages ## mixed traffic for SOAK_SECONDS (600) on PostgreSQL + gunicorn + worker + beat, then check_invariants; writes bench/results/soak-latest.md
	$(PY) -m bench.soak

clean: ## remove the virtualenv and local data under var/
	rm -rf $(VENV) var
