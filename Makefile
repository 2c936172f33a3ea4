# Entry points for newcomers and CI. Every target sets up what it needs (idempotently) in .venv.
#   make test        venv + lint + pinned wheels, then the whole test suite (what CI runs)
#   make test-fast   the quick set: no bpy, no slow tests
#   make extension   dist/dance_ai-<version>-<platform>.zip for every platform (CPU onnxruntime)
#   make extension-gpu  dist/dance_ai-<version>-gpu-<platform>.zip (downloads ~500 MB of wheels)
#   make bench       every bench/bench_*.py (JSON results in bench/results/)
#   make demo        the main job, headless
#   make lint / make format

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_BOOT ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
REQ_HASH := $(shell sha256sum requirements-dev.txt | cut -c1-16)
STAMP := $(VENV)/.installed-$(REQ_HASH)
LINT_DIRS := $(wildcard dance_ai_addon tests bench tools training)

.PHONY: help venv test test-fast lint format wheels extension extension-gpu bench demo clean train report

help:
	@sed -n '2,9p' Makefile | sed 's/^# \{0,1\}//'

$(STAMP): requirements-dev.txt
	@$(PYTHON_BOOT) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and \
		"Python 3.11 is required (bpy 5.0.1 is built for it); found " + sys.version.split()[0])'
	@test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP)

lint: venv
	$(VENV)/bin/ruff check $(LINT_DIRS)
	$(VENV)/bin/ruff format --check $(LINT_DIRS)

format: venv
	$(VENV)/bin/ruff format $(LINT_DIRS)
	$(VENV)/bin/ruff check --fix $(LINT_DIRS)

wheels: venv
	$(PY) tools/wheels.py fetch --flavour cpu

test: venv lint wheels
	$(PY) -m pytest

test-fast: venv
	$(PY) -m pytest -m "not bpy and not slow"

extension: venv wheels
	$(PY) tools/build_extension.py --flavour cpu

extension-gpu: venv
	$(PY) tools/wheels.py fetch --flavour gpu
	$(PY) tools/build_extension.py --flavour gpu

bench: venv wheels
	@set -e; for script in bench/bench_*.py; do echo "== $$script"; $(PY) $$script; done
	$(PY) bench/summarize.py

# DEMO_ARGS: e.g. DEMO_ARGS="--engine path/to/engine.onnx" (tools/demo.py --help)
demo: venv
	$(PY) tools/demo.py $(DEMO_ARGS)

clean:
	rm -rf build dist .pytest_cache

# The default engine: `make train` reproduces dance_ai_addon/engines/default.onnx (+ model card)
# from the mocap (building the recipe's dataset under build/ first when missing); `make report` measures it.
train: venv
	$(PY) -m training.train

report: venv
	$(PY) -m training.evaluate --engine dance_ai_addon/engines/default.onnx --dataset build/dataset.npz --out docs/quality
	$(PY) -m training.export --card
