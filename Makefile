# zkml: everything a fresh machine needs is installed by these targets, idempotently.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.zkml-installed
NODE_STAMP := node_modules/.zkml-installed
PYTEST_ARGS ?=

.PHONY: setup demo test check lint bench compare clean

setup: $(STAMP) $(NODE_STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch is pinned (2.13.0, CPU) in pyproject: an unpinned torch would pull a CUDA build.
	$(PY) -m pip install -q -e '.[test,bench,distributed,zoo,serve]'
	# the `trees` extra (zkml.export of scikit-learn / XGBoost / LightGBM estimators), with
	# --no-deps: hummingbird-ml 0.4.12 pins onnx<=1.16.1, which its torch backend does not need
	$(PY) -m pip install -q --no-deps hummingbird-ml==0.4.12 onnxconverter-common==1.16.0 \
		dill==0.4.1 psutil xgboost-cpu==3.2.0 lightgbm==4.7.0
	# the browser tests drive Debian's chromium (never `playwright install`: it downloads);
	# installed when missing and root, else those tests skip and say why
	command -v chromium >/dev/null || [ "$$(id -u)" != 0 ] || \
		(apt-get update -qq && apt-get install -y -qq chromium)
	touch $@

# `npm install` (not `npm ci`): npm 11's ci rejects this lock, which lists anvil's optional
# per-platform packages without lock entries; install still honours the lock's pinned versions.
$(NODE_STAMP): package.json package-lock.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

demo: setup
	$(VENV)/bin/zkml demo

# The full suite (unit + integration, real ezkl, the embedded EVM and anvil), without `slow`,
# on two workers (pytest-xdist), a test file per worker at a time: most tests wait on one
# core (Python, solc, the embedded EVM, process starts), so two run side by side in about 2/3
# of the serial time. Tests prove small circuits (big models are `slow`), so two proofs at
# once stay far inside the machine's memory. `make test TEST_WORKERS=0` runs it serially, in
# one process.
TEST_WORKERS ?= 2
test: setup
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The fast loop (about a minute on the 2-core dev machine, lint included; budget 90 s): `lint`,
# then the tests that are neither `slow` nor `anvil` in tests/unit and the quick integration
# files: the tiny model's pipeline, the embedded-EVM verifier, the tuner's decisions and the
# security checks. Left to `make test`: every anvil test, and the slower files (registry,
# faults, batch/Ray, CLI, demo, benchmark smoke runs).
CHECK_TESTS := tests/unit tests/integration/test_pipeline.py tests/integration/test_chain.py \
	tests/integration/test_tune.py tests/integration/test_security.py
check: lint
	$(VENV)/bin/pytest -m "not slow and not anvil" $(CHECK_TESTS) $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy zkml circuits
	$(VENV)/bin/lint-imports

clean:
	rm -rf build .pytest_cache verifier_contracts/generated
