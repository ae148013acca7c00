# Two entry points a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SHARED ?= ../shared

.PHONY: demo test lint venv venv-test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

venv: $(BIN)/python
	$(BIN)/pip install -q -e .

venv-test: $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'

demo: venv
	$(BIN)/pymeld inspect examples/calculator.composed.wasm
	$(BIN)/pymeld fuse examples/calculator.composed.wasm --component --stats -o $(VENV)/calculator.fused.wasm
	$(BIN)/pymeld inspect $(VENV)/calculator.fused.wasm
	@echo "demo: examples/calculator.composed.wasm (3 components: a root composing 2) fused into $(VENV)/calculator.fused.wasm (1 core module)"

lint: venv-test
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy src/pymeld

test: venv-test lint
	$(BIN)/python -m pytest -n 2 --dist worksteal -q

bench: venv-test
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .ruff_cache
