# Every target bootstraps .venv on first use, so a machine with only python3 is enough.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test lint bench demo clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python -m bench

# the nightly job end to end on an in-process sandbox brand: data/demo.duckdb, data/demo_marts.duckdb, data/docs
demo: $(STAMP)
	$(BIN)/python -m warehouse.demo

clean:
	rm -rf $(VENV) data .pytest_cache
