# Two commands on a fresh machine: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: serve test lint

# The product with its dev tools, and the benchmark (a distribution of its own, in
# bench/, that adds `boxoffice bench`; also `python -m boxoffice_bench`).
$(BIN)/boxoffice: pyproject.toml bench/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]' -e ./bench
	touch $@

serve: $(BIN)/boxoffice
	$(BIN)/boxoffice serve

test: $(BIN)/boxoffice
	$(BIN)/pytest

lint: $(BIN)/boxoffice
	$(BIN)/ruff check src bench/src tests
	$(BIN)/ruff format --check src bench/src tests
	$(BIN)/mypy src bench/src tests
