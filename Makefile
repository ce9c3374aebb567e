# The two commands: `make run` (portal on the embedded default) and `make test` (whole suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := wsgi.py

.PHONY: run test test-fast fuzz lint bench clean-db translations

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.runtime $@

## Set up and start the portal: SQLite under instance/, jobs inline, demo data, logins printed.
run: $(VENV)/.runtime
	$(BIN)/flask db upgrade
	$(BIN)/flask seed demo
	@echo "Portal on http://127.0.0.1:5000  (Ctrl-C to stop)"
	@# The scheduler beside it runs the periodic list inline (policy states, quota expiry, the
	@# nightly replenishment), as `python worker.py` does in production.
	$(BIN)/python worker.py --scheduler & scheduler=$$!; \
		trap 'kill $$scheduler 2>/dev/null' EXIT INT TERM; \
		$(BIN)/flask run --host 127.0.0.1 --port 5000

## Set up and run the whole suite. PostgreSQL/Redis/Chromium tests run where those are reachable;
## REQUIRE_SERVICES=1 makes their absence a failure (CI sets it).
test: $(VENV)/.dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## The inner loop, under 2 minutes: unit and service tests on SQLite only. Leaves out PostgreSQL,
## Redis and the browser, and the process tests (workers, gunicorn, fuzz, bench); CI runs `test`.
FAST_SKIP := --ignore=tests/e2e --ignore=tests/bench --ignore=tests/test_fuzz_api.py
test-fast: $(VENV)/.dev
	TEST_BACKENDS=sqlite $(BIN)/python -m pytest -q -m "not postgres and not redis and not browser" \
		$(FAST_SKIP) $(PYTEST_ARGS)

## Schemathesis over the OpenAPI document, long: FUZZ_EXAMPLES cases per operation and mode
## (`make test` runs the same test with 25), on SQLite and, when reachable, PostgreSQL.
FUZZ_EXAMPLES ?= 500
fuzz: $(VENV)/.dev
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/test_fuzz_api.py -q $(PYTEST_ARGS)

## Lint as CI runs it: ruff (rules and format), mypy on portal/ (mypy.ini), and the code
## contracts: package import order and no circles, tenant rows loaded only through scoped
## loaders, transactions ended only at boundaries.
CONTRACTS := tests/test_imports.py tests/test_tenant_loads.py tests/core/test_transaction.py
lint: $(VENV)/.dev
	$(BIN)/ruff check portal tests bench config.py worker.py wsgi.py
	$(BIN)/ruff format --check portal tests bench config.py worker.py wsgi.py
	$(BIN)/mypy
	TEST_BACKENDS=sqlite $(BIN)/python -m pytest -q -p no:cacheprovider $(CONTRACTS)

## Benchmarks through gunicorn, PostgreSQL, Redis and RQ workers (bench/README.md). Seeds the
## bench databases on first use. SCALE=smoke for the small run; BENCH=catalog,orders for a subset.
SCALE ?= full
BENCH ?=
bench: $(VENV)/.dev
	BENCH_COMMAND="make bench SCALE=$(SCALE)$(if $(BENCH), BENCH=$(BENCH))" \
		$(BIN)/python -m bench --scale $(SCALE) $(if $(BENCH),--only $(BENCH))

translations: $(VENV)/.dev
	$(BIN)/pybabel extract -F babel.cfg --ignore-dirs '.* __pycache__' --project 'Channel portal' -o portal/translations/messages.pot .
	$(BIN)/pybabel update -i portal/translations/messages.pot -d portal/translations -l zh_Hans_CN
	$(BIN)/pybabel compile -d portal/translations

clean-db:
	rm -f instance/portal.db instance/portal.db-wal instance/portal.db-shm
