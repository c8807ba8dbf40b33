# One command to run the product, one to test it. Both set up what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	@echo "citriage: the service arrives with the service-foundation issue; for now try:"
	@echo "  $(BIN)/citriage scan LOGFILE"

test: $(STAMP)
	$(BIN)/ruff check citriage tests bench
	$(BIN)/mypy citriage
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/scan.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
