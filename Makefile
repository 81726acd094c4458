# Two commands do all set-up on a fresh machine (Python >= 3.11):
#   make demo   creates .venv if missing, installs atmoscope, runs the main job
#   make test   same set-up, lints (ruff) and runs the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/atmoscope demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts

test: lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) atmoscope-demo .pytest_cache src/*.egg-info
