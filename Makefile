# The README's contract: `make demo` and `make test` work on a fresh machine with Python 3.11.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
# Three test processes on two cores: a third of the suite's time is spent waiting on servers,
# child processes and sockets, so a third worker fills it (make test-fast: 3:02 with 2, 2:45
# with 3 on the same quiet machine).
WORKERS ?= 3
CHROMIUM := /usr/bin/chromium
# Playwright drives Debian's chromium (tests/browser.py); it never downloads a browser of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1
# The suite starts hundreds of Python processes (servers, CLI runs, workers): let them write
# compiled bytecode (into git-ignored __pycache__ folders) so mloop's modules are compiled once,
# not once per process, where the environment turns that off.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: demo test test-fast lint format typecheck bench clean help browser azurite

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

# The HTML report tests run in headless Chromium: Debian's package, installed when missing.
browser:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium for the browser tests"; \
		apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 \
			chromium; \
	else \
		echo "warning: $(CHROMIUM) is missing; install Debian's chromium (sudo apt-get" \
			"install chromium) or the browser tests skip (and fail under CI=true)" >&2; \
	fi

# The Azure tests run against Azurite (Microsoft's emulator, a Node program), installed from npm
# into .cache/azurite when npm is there.
AZURITE_VERSION = 3.35.0
azurite:
	@if [ -x .cache/azurite/node_modules/.bin/azurite-blob ]; then :; \
	elif command -v npm >/dev/null; then \
		echo "installing Azurite $(AZURITE_VERSION) into .cache/azurite for the Azure tests"; \
		npm install --silent --no-audit --no-fund --prefix .cache/azurite \
			azurite@$(AZURITE_VERSION); \
	else \
		echo "warning: npm is missing; install Node.js and npm or the Azure tests skip" \
			"(and fail under CI=true)" >&2; \
	fi

test: $(VENV)/.dev-installed browser azurite  ## Lint, types, layer contracts, then every test with coverage
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadfile --no-loadscope-reorder --cov --cov-report=term-missing:skip-covered \
		$(PYTEST_ARGS)

test-fast: $(VENV)/.dev-installed browser azurite  ## The suite without slow tests, no coverage
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadfile --no-loadscope-reorder -m "not slow" $(PYTEST_ARGS)

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
	$(BIN)/python benchmarks/cli.py
	$(BIN)/python benchmarks/predlog.py
	$(BIN)/python benchmarks/ui.py
	$(BIN)/python benchmarks/mlflow_api.py
	$(BIN)/python benchmarks/score.py
	$(BIN)/python benchmarks/s3.py

clean:
	rm -rf .mloop .pytest_cache .ruff_cache .mypy_cache benchmarks/.work
