# Two commands for a fresh machine: `make run` and `make test`. Each creates .venv from requirements-dev.lock:
# the exact versions (and hashes) the project is tested with; pyproject.toml keeps the ranges for library users.
PYTHON ?= python3
VENV ?= .venv
LOCK = requirements-dev.lock

# The build backend (setuptools) is in the lock too, so the editable install needs nothing unpinned.
$(VENV)/.installed: $(LOCK) pyproject.toml
	@echo "Installing the locked dependencies into $(VENV)..."
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --require-hashes -r $(LOCK)
	$(VENV)/bin/pip install --no-deps --no-build-isolation -e .
	touch $@

# Re-resolve the lock from pyproject.toml's ranges, newest versions allowed (LOCK_ARGS='--upgrade-package NAME'
# to move one); then `make test`, and commit the lock with the change that needed it.
LOCK_ARGS ?= --upgrade
lock: $(VENV)/.installed
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 --generate-hashes \
		$(LOCK_ARGS) -o $(LOCK)

# ruff (lint + format) and mypy, configured in pyproject.toml; .ci/run runs this before the tests
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check dealgraph tests bench harness
	$(VENV)/bin/ruff format --check dealgraph tests bench harness
	$(VENV)/bin/mypy

.PHONY: run test lint lock bench bench-read bench-cache bench-live bench-search
run: $(VENV)/.installed
	$(VENV)/bin/dealgraph serve

# Four processes (pytest-xdist), whole modules each: most tests wait on PostgreSQL, sockets and child processes,
# not on a core, and every module has its own database already. PYTEST_ARGS='-n 0' runs it in one process.
# Bytecode caches are written even where PYTHONDONTWRITEBYTECODE is set: the suite starts about a hundred
# interpreters on this checkout, each of which would compile dealgraph from source again (~0.3 s of CPU), and
# pytest would rewrite every test module's assertions in every process.
# The modules are handed out in the order tests/conftest.py gives them (--no-loadscope-reorder): see there.
PYTEST_ARGS ?= -n 4 --dist loadfile --no-loadscope-reorder
test: $(VENV)/.installed
	PYTHONDONTWRITEBYTECODE= $(VENV)/bin/pytest -q $(PYTEST_ARGS)

bench: $(VENV)/.installed
	$(VENV)/bin/python -m bench.analysis_latency

# dealgraph vs PostGraphile 5, same data; installs PostGraphile/autocannon from npm into ~/.cache/dealgraph-bench.
bench-read: $(VENV)/.installed
	$(VENV)/bin/python -m bench.read_throughput $(BENCH_ARGS)

# prompt-cache sharing strategies: first result, total latency, input-token cost (stand-in in its own process)
bench-cache: $(VENV)/.installed
	$(VENV)/bin/python -m bench.cache_sharing $(BENCH_ARGS)

# live path at scale: fan-out to N subscribers, orchestration throughput, the NOTIFY commit ceiling
bench-live: $(VENV)/.installed
	$(VENV)/bin/python -m bench.fanout $(BENCH_ARGS)
	$(VENV)/bin/python -m bench.analysis_throughput $(BENCH_ARGS)
	$(VENV)/bin/python -m bench.notify_rate $(BENCH_ARGS)

# transcript search: recall@5 and MRR per mode on the labelled set; BENCH_ARGS='--scale 100000' adds p50/p99
bench-search: $(VENV)/.installed
	$(VENV)/bin/python -m bench.search_quality $(BENCH_ARGS)
