# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install install-test run demo lint test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Exact versions from requirements.lock (scripts/lock writes it): an upgrade is deliberate.
install: $(BIN)/python
	$(BIN)/pip install -q -c requirements.lock -e .

install-test: $(BIN)/python
	$(BIN)/pip install -q -c requirements.lock -e '.[test]'

run: install
	$(BIN)/paraphe serve

demo: install
	$(BIN)/paraphe demo

# The layers of ARCHITECTURE.md (pyproject's [tool.importlinter]) and ruff's rules.
lint: install-test
	$(BIN)/lint-imports
	$(BIN)/ruff check .

test: install-test lint
	PATH="$(abspath $(BIN)):$$PATH" scripts/test
