# The README's two commands: `make test` and `make figures`. Both build .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test figures bench clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest tests

figures: $(STAMP)
	$(BIN)/python analyses/make_all.py

# The peers (jax, torch) are never dependencies: `make bench BENCH_PYTHON=/path/to/env/bin/python`
# runs the benchmarks in an environment that has them and gradflow (pip install -e .).
bench: BENCH_PYTHON ?= $(BIN)/python
bench: $(STAMP)
	$(BENCH_PYTHON) benchmarks/bench_jacobians.py
	$(BENCH_PYTHON) benchmarks/bench_depth.py
	$(BENCH_PYTHON) benchmarks/bench_sweep.py
	$(BENCH_PYTHON) benchmarks/bench_lyapunov.py
	$(BENCH_PYTHON) benchmarks/bench_training_flow.py
	$(BENCH_PYTHON) benchmarks/bench_flossing.py
	$(BENCH_PYTHON) benchmarks/bench_skip.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
