# The dev loop. `make` alone lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

NAME ?= digits
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
PY := .venv/bin/python
TFJS_PY := envs/tfjs/.venv/bin/python
NODE_DIR := pipeline/tfjs_node
export UV_PYTHON_DOWNLOADS := never
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: help setup all train export convert verify report test unit lint format bench bench-pipeline bench-edge clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-15s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(UV):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	@touch $@

envs/tfjs/.venv/.synced: envs/tfjs/pyproject.toml envs/tfjs/uv.lock | $(UV)
	$(UV) sync --frozen --project envs/tfjs
	@touch $@

envs/tflite214/.venv/.synced: envs/tflite214/pyproject.toml envs/tflite214/uv.lock | $(UV)
	$(UV) sync --frozen --project envs/tflite214
	@touch $@

$(NODE_DIR)/node_modules/.installed: $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: .venv/.synced envs/tfjs/.venv/.synced envs/tflite214/.venv/.synced $(NODE_DIR)/node_modules/.installed ## build the locked environments (idempotent)

all: setup ## set up, then train, export, convert, verify and report the default model
	$(PY) -m pipeline run --name $(NAME)

train: setup ## train the Keras reference (both trainers) and write the golden set
	$(PY) -m pipeline train --name $(NAME)

export: setup ## export the Keras reference as a new SavedModel version
	$(PY) -m pipeline export --name $(NAME)

convert: setup ## convert the latest SavedModel to TFLite and TF.js
	$(PY) -m pipeline convert --name $(NAME)

verify: setup ## verify every artifact in its runtime; write the manifest
	$(PY) -m pipeline verify --name $(NAME)

report: setup ## write report.md and report.html from the manifest
	$(PY) -m pipeline report --name $(NAME)

test: setup lint unit ## set up, then run every test tier

unit: setup ## unit tests (tests/unit)
	$(PY) -m pytest tests/unit -q

lint: setup ## check style and formatting (changes nothing)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: setup ## fix style and formatting
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

bench: bench-edge bench-pipeline ## run every benchmark; writes models/reports/<name>/bench.md

bench-pipeline: setup ## seconds per stage of a full run
	$(PY) -m pipeline bench --name $(NAME)

bench-edge: setup ## each TFLite variant in LiteRT vs the SavedModel and Keras calls; writes bench-edge.md
	$(PY) -m mobile.bench_edge --name $(NAME)

clean: ## remove the environments and everything under models/ (keeps models/README.md)
	rm -rf .venv envs/tfjs/.venv envs/tflite214/.venv $(TOOLS) $(NODE_DIR)/node_modules
	find models -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
