# Two commands for a fresh machine: `make run` and `make test`. Each creates .venv from pyproject.toml.
PYTHON ?= python3
VENV ?= .venv

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

.PHONY: run test bench bench-read
run: $(VENV)/.installed
	$(VENV)/bin/dealgraph serve

test: $(VENV)/.installed
	$(VENV)/bin/pytest -q

bench: $(VENV)/.installed
	$(VENV)/bin/python bench/analysis_latency.py

# dealgraph vs PostGraphile 5, same data; installs PostGraphile/autocannon from npm into ~/.cache/dealgraph-bench.
bench-read: $(VENV)/.installed
	$(VENV)/bin/python bench/read_throughput.py $(BENCH_ARGS)
