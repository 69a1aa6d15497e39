# zkml: everything a fresh machine needs is installed by these targets, idempotently.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.zkml-installed
NODE_STAMP := node_modules/.zkml-installed
PYTEST_ARGS ?=

.PHONY: setup demo test lint bench compare clean

setup: $(STAMP) $(NODE_STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch is pinned (2.13.0, CPU) in pyproject: an unpinned torch would pull a CUDA build.
	$(PY) -m pip install -q -e '.[test,bench,distributed,zoo]'
	touch $@

# `npm install` (not `npm ci`): npm 11's ci rejects this lock, which lists anvil's optional
# per-platform packages without lock entries; install still honours the lock's pinned versions.
$(NODE_STAMP): package.json package-lock.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

demo: setup
	$(VENV)/bin/zkml demo

test: setup
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check zkml circuits tests benchmarks
	$(VENV)/bin/mypy zkml circuits
	$(VENV)/bin/lint-imports

clean:
	rm -rf build .pytest_cache verifier_contracts/generated
