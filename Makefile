# Two commands that work on a fresh machine (see README.md):
#   make run    install and start the whole portal (web, worker, cron) on embedded defaults
#   make test   install and run the full test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test install

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/flask portal up

test: install
	$(BIN)/python -m pytest
