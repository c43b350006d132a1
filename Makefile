# The developer's commands. CI calls `make test` unchanged (.ci/run).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml setup.py | sha256sum | cut -c1-12)
export SAKSKYDD_INSTANCE_PATH ?= $(CURDIR)/instance

.PHONY: run test soak lint demo venv system-deps bench bench-quick clean

venv: $(STAMP)

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

# Debian's Chromium (browser tests) and PostgreSQL (real database tests), when running as root.
system-deps:
	@$(PY) tests/system_deps.py

run: venv
	SAKSKYDD_ENV=demo $(VENV)/bin/sakskydd init
	SAKSKYDD_ENV=demo $(VENV)/bin/sakskydd demo
	SAKSKYDD_ENV=demo $(VENV)/bin/sakskydd serve --host 127.0.0.1 --port 8000

demo: venv
	SAKSKYDD_ENV=demo $(VENV)/bin/sakskydd init
	SAKSKYDD_ENV=demo $(VENV)/bin/sakskydd demo

lint: venv
	$(VENV)/bin/ruff check sakskydd tests migrations setup.py
	$(VENV)/bin/ruff format --check sakskydd tests setup.py
	$(VENV)/bin/sakskydd policies check

test: venv system-deps lint
	$(PY) tests/run_all.py

# The reliability tests in full (crash, concurrency, fuzz) on SQLite and PostgreSQL: about an hour.
soak: venv system-deps
	$(PY) tests/run_all.py --soak

# Benchmarks (bench/README.md): city-scale data, gunicorn + wrk, micro figures, PostgreSQL at
# national scale; writes bench/RESULTS.md. bench-quick: a small fraction, under 3 minutes.
bench: venv
	@$(PY) tests/system_deps.py --bench
	$(PY) -m bench.run

bench-quick: venv
	@$(PY) tests/system_deps.py --bench
	$(PY) -m bench.run --quick

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
