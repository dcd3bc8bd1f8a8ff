# reviewer: `make demo` runs the product locally; `make test` runs the test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-fast bench lint format clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python manage.py demo

## The whole suite: needs Redis on 127.0.0.1:6379 (db 15 is used and flushed) and
## Debian's chromium for the browser tests. DATABASE_URL=postgres://… runs it on PostgreSQL.
test: $(STAMP) node_modules/axe-core
	$(BIN)/python -m pytest

## axe-core, injected into pages by the browser tests' accessibility checks.
node_modules/axe-core: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not browser and not worker"

bench: $(STAMP)
	$(BIN)/python -m bench.run

lint: $(STAMP)
	$(BIN)/ruff check reviewer tests bench sandbox
	$(BIN)/ruff format --check reviewer tests bench sandbox
	$(BIN)/mypy reviewer

format: $(STAMP)
	$(BIN)/ruff format reviewer tests bench sandbox
	$(BIN)/ruff check --fix reviewer tests bench sandbox

clean:
	rm -rf $(VENV) var staticfiles
