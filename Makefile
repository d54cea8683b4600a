# Two entry points: `make run` and `make test`. Both create .venv when it is missing and
# (re)install the package when pyproject.toml or the C segmenter (setup.py builds it) changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.run: pyproject.toml setup.py pipeline/_cjieba.c | $(BIN)/python
	$(BIN)/pip install -q -e '.[fast]'
	touch $@

$(VENV)/.test: pyproject.toml setup.py pipeline/_cjieba.c | $(BIN)/python
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
