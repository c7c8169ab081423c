# Two commands do all set-up on a fresh machine:
#   make run    venv + pinned deps, then the pipeline on config/config.yaml
#   make test   venv + pinned deps, then the test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= 2
CONFIG ?= config/config.yaml
export PATH := $(CURDIR)/$(BIN):$(PATH)
export TF_CPP_MIN_LOG_LEVEL := 2
export TF_ENABLE_ONEDNN_OPTS := 1

.PHONY: install run test bench report clean

install: $(STAMP)

# classy compiles CLASS against the installed numpy and does not declare it: numpy (and
# Cython) first, then the project, then classy without build isolation.
$(STAMP): pyproject.toml requirements-build.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-build.txt
	$(BIN)/python -m pip install -q -e '.[test]'
	$(BIN)/python -m pip install -q --no-build-isolation classy==3.4.1.0
	$(BIN)/python -m pip check
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --configfile $(CONFIG)

report: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --configfile $(CONFIG) --report report.html

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf results .snakemake report.html
