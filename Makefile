# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install install-test run demo lint test catalogs

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

# The French catalog after a change of the templates' words: new msgids come in with an empty
# msgstr (tests/test_catalogs.py lists them until translated), gone ones are dropped.
# _p("context", "…") is a string with a context, as pgettext. No .mo: read at start.
catalogs: install
	$(BIN)/pybabel extract -F babel.cfg -k _p:1c,2 --no-wrap --sort-by-file --project Paraphe \
		-o paraphe/locale/messages.pot .
	$(BIN)/pybabel update -i paraphe/locale/messages.pot -d paraphe/locale -l fr \
		--no-wrap --ignore-obsolete --no-fuzzy-matching
	rm paraphe/locale/messages.pot
