# Two entry points: `make run` and `make test`. Both create .venv when it is missing and
# (re)install the package when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[fast]'
	touch $@

$(VENV)/.test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test,fast,dask]'
	touch $@ $(VENV)/.run

run: $(VENV)/.run
	$(BIN)/pipeline run seeds -o outputs

test: $(VENV)/.test
	$(BIN)/python -m pytest

bench: $(VENV)/.run
	$(BIN)/pipeline bench

clean:
	rm -rf outputs .cache .pytest_cache
