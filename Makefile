# One command to run the product, one to test it. Both set up what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DATA_DIR ?= $(CURDIR)/data
PORT ?= 8000

.PHONY: run admin test lint bench clean chromium

$(STAMP): pyproject.toml citriage/scanner/_cstrip.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Web UI on 127.0.0.1:$(PORT), a worker and the scheduler, on SQLite in $(DATA_DIR);
# the first run loads the default pattern library and the demo history.
run: $(STAMP)
	CITRIAGE_DATA_DIR=$(DATA_DIR) $(BIN)/citriage up --port $(PORT)

# The first admin (staff) account of the `make run` data dir: asks for a name and password.
admin: $(STAMP)
	CITRIAGE_DATA_DIR=$(DATA_DIR) $(BIN)/citriage manage createsuperuser

lint: $(STAMP)
	$(BIN)/ruff check citriage tests bench scripts
	$(BIN)/ruff format --check citriage tests bench scripts
	$(BIN)/mypy citriage

# The browser tests drive Debian's Chromium; install it where it is missing (as root).
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -qq --no-install-recommends chromium >/dev/null; } || \
	  { echo "Chromium is missing: install Debian's chromium package"; exit 1; }

# The whole suite on SQLite, then every database test again on a throwaway PostgreSQL.
test: lint chromium
	CITRIAGE_DATA_DIR=$$(mktemp -d) $(BIN)/python -m pytest
	CITRIAGE_DATA_DIR=$$(mktemp -d) $(BIN)/python scripts/with_postgres.py $(BIN)/python -m pytest -m db

bench: $(STAMP)
	$(BIN)/python bench/scan.py
	$(BIN)/python bench/regex_engines.py
	$(BIN)/python bench/memory.py
	$(BIN)/python bench/rescan.py
	$(BIN)/python bench/record.py
	$(BIN)/python bench/ui.py
	$(BIN)/python -m bench.accuracy
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/tests.py
	$(BIN)/python bench/flaky.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
