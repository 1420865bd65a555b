# Two commands for a fresh machine: `make run` and `make test`. Each creates .venv from pyproject.toml.
PYTHON ?= python3
VENV ?= .venv

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

.PHONY: run test bench
run: $(VENV)/.installed
	$(VENV)/bin/dealgraph serve

test: $(VENV)/.installed
	$(VENV)/bin/pytest -q

bench: $(VENV)/.installed
	$(VENV)/bin/python -m bench.analysis_latency
