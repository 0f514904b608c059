PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
JS_STAMP := tests/js/node_modules/.package-lock.json
NODE_EXAMPLE_STAMP := examples/node-target/node_modules/.package-lock.json
# pytest-xdist workers: an end-to-end run is a whole stack (ledger, proxy, service, Locust) that mostly waits on
# its real-time load schedule (a 2-worker `make test` used about a third of 2 cores), so 3 workers fit 2 cores.
# A run shared by several tests is played once (tests/e2e/runs.py once_per_session). JOBS=1 runs serially.
JOBS ?= 3

.PHONY: venv verify verify-envs test test-fast test-long bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

venv: $(STAMP)

$(JS_STAMP): tests/js/package-lock.json
	cd tests/js && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(NODE_EXAMPLE_STAMP): examples/node-target/package-lock.json
	cd examples/node-target && npm ci --no-audit --no-fund --loglevel=error
	touch $@

verify: $(STAMP)
	$(BIN)/harness run smoke

# Smoke under testnet and mainnet at their own cadence, asserted conclusive (docs/run.md,
# "Environments"; ~9 min; `make test` runs the testnet one, the mainnet one is marked `long`).
verify-envs: $(STAMP)
	$(BIN)/pytest tests/e2e/test_environment_runs.py

test: $(STAMP) $(JS_STAMP) $(NODE_EXAMPLE_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -m "not long" -n $(JOBS) --dist worksteal

# The development loop: everything but the end-to-end runs (marker `e2e`, set on tests/e2e by conftest).
test-fast: $(STAMP) $(JS_STAMP) $(NODE_EXAMPLE_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -m "not e2e" -n $(JOBS) --dist worksteal

# The tests marked `long` (smoke under mainnet), which `make test` leaves out.
test-long: $(STAMP) $(JS_STAMP) $(NODE_EXAMPLE_STAMP)
	$(BIN)/pytest -m long -n $(JOBS) --dist worksteal

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) reports/runs
