# Two commands: `make run` (set up, then run the default job) and `make test` (set up, then test).
PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
BIN     = $(VENV)/bin

.PHONY: setup run test clean

$(BIN)/vadbench: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[test]" -e plugins/mnad
	touch $@

setup: $(BIN)/vadbench

run: setup
	$(BIN)/vadbench run mnad-p --resume  # a second `make run` reports the finished run instead of failing

test: setup
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info
