# Two commands do all set-up on a fresh machine (Python >= 3.11):
#   make demo   creates .venv if missing, installs atmoscope, runs the main job
#   make test   same set-up, lints (ruff) and runs the whole test suite
#   make fuzz   long property-based fuzz run of the CLI (RELIABILITY.md; minutes)
#   make docs   same set-up, builds the documentation site into docs/_build/html
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint fuzz docs clean

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

# `make test` runs tests/test_fuzz.py with a bounded, reproducible number of examples; this
# runs FUZZ_EXAMPLES per test (a twentieth for train) with random seeds and lists every kind
# of contract failure (ATMOSCOPE_FUZZ_SURVEY); a summary per test goes to FUZZ_REPORT.
FUZZ_EXAMPLES ?= 2000
FUZZ_REPORT ?= .pytest_cache/fuzz-report.jsonl
fuzz: $(STAMP)
	OMP_NUM_THREADS=1 ATMOSCOPE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) ATMOSCOPE_FUZZ_RANDOM=1 \
	ATMOSCOPE_FUZZ_SURVEY=1 ATMOSCOPE_FUZZ_REPORT=$(FUZZ_REPORT) \
	$(BIN)/python -m pytest tests/test_fuzz.py -m fuzz -s -q

# The documentation site (docs/): Sphinx + MyST-NB from a fresh environment (-E), warnings
# are errors (-W), every tutorial executed on the real data in ../shared/data (a few minutes
# on two cores, one thread each); then headless Chromium opens the site and checks that the
# tutorials show their figures (docs/check_site.py).
DOCS_HTML := docs/_build/html
docs: $(STAMP)
	$(BIN)/ruff check docs
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 PYDEVD_DISABLE_FILE_VALIDATION=1 \
	$(BIN)/python -m sphinx -E -W --keep-going -b html -d docs/_build/doctrees docs $(DOCS_HTML)
	$(BIN)/python docs/check_site.py $(DOCS_HTML)

clean:
	rm -rf $(VENV) atmoscope-demo .pytest_cache src/*.egg-info docs/_build docs/jupyter_execute
