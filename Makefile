# The README's contract: `make demo` and `make test` work on a fresh machine with Python 3.11.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo test test-fast lint format typecheck bench clean help

help:  ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the project's dependencies change.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[server,sklearn]'
	@touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed

demo: $(VENV)/.installed  ## Run the whole loop on bundled data and print where to look
	$(BIN)/mloop demo

test: $(VENV)/.dev-installed  ## Layer contracts, then the full test suite
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

test-fast: $(VENV)/.dev-installed  ## The suite without slow tests
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not slow" $(PYTEST_ARGS)

lint: $(VENV)/.dev-installed  ## ruff, import contracts and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

format: $(VENV)/.dev-installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(VENV)/.dev-installed  ## Benchmarks against the peers (MLflow in its own venv)
	$(BIN)/python benchmarks/tracking.py
	$(BIN)/python benchmarks/models.py
	$(BIN)/python benchmarks/drift.py
	$(BIN)/python benchmarks/serving.py
	$(BIN)/python benchmarks/pipeline.py
	$(BIN)/python benchmarks/ui.py

clean:
	rm -rf .mloop .pytest_cache .ruff_cache .mypy_cache benchmarks/.work
