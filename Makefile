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
# Install .pyc files with the packages: with PYTHONDONTWRITEBYTECODE set (as on these machines),
# every process would otherwise compile TensorFlow's sources again (an import took 19 s, not 6).
export UV_COMPILE_BYTECODE := 1
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: help setup all train export convert verify report zoo test unit lint format bench bench-pipeline bench-edge clean
.PHONY: serve test-serving bench-serving bench-peers bench-soak images integration faults docker-up docker-down
.PHONY: train-distributed bench-scale

# The browser demo (web/): npm tree, Debian's chromium for the browser tests, the model server /v1/
# is proxied to by `make web-dev`.
WEB := web
CHROMIUM := /usr/bin/chromium
MODEL_SERVER_URL ?= http://127.0.0.1:8501
.PHONY: web web-dev web-unit e2e bench-web

# kubectl renders the Kubernetes manifests (deploy/k8s): the one on PATH, else Debian's
# kubernetes-client (kubectl 1.20, whose kustomize v2 the manifests are written for).
KUBECTL := $(or $(shell command -v kubectl),/usr/bin/kubectl)
.PHONY: k8s

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z0-9-]+:.*## / {printf "  %-15s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

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

# tritonclient (the Open Inference Protocol's official clients) for the server's tests only: not
# part of setup, so `make all` does not install it
OIP_CLIENT := envs/oip-client/.venv/.synced
$(OIP_CLIENT): envs/oip-client/pyproject.toml envs/oip-client/uv.lock | $(UV)
	$(UV) sync --frozen --project envs/oip-client
	@touch $@

$(NODE_DIR)/node_modules/.installed: $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The REST hot path's JSON <-> float tensor code, in C (serving/_jsonfloat.c), built for the venv's
# Python. build_ext.sh names the file from sysconfig; this name assumes pyproject's Python 3.11.
JSONFLOAT := serving/_jsonfloat.cpython-311-$(shell uname -m)-linux-gnu.so
$(JSONFLOAT): serving/_jsonfloat.c serving/build_ext.sh .venv/.synced
	bash serving/build_ext.sh $(PY)
	@test -f $@ || { echo "Makefile: build_ext.sh did not write $@ (Python other than 3.11?)" >&2; exit 1; }

setup: .venv/.synced envs/tfjs/.venv/.synced envs/tflite214/.venv/.synced $(NODE_DIR)/node_modules/.installed $(JSONFLOAT) ## build the locked environments and the C extension (idempotent)

all: setup ## set up, then train, export, convert, verify and report the default model
	$(PY) -m pipeline run --name $(NAME)

zoo: setup ## train every examples/ model and run each through every target; writes models/reports/zoo.md
	$(PY) examples/zoo.py

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

serve: setup ## the model server on the latest artifacts: REST :8501, gRPC :8500 (Ctrl-C stops it)
	$(PY) -m serving --model_name=$(NAME) --model_base_path=$(CURDIR)/models/serving/$(NAME) \
		--enable_batching --batching_parameters_file=serving/configs/batching.config \
		--monitoring_config_file=serving/configs/monitoring.config --rest_api_enable_cors_support

test: setup lint web-unit images $(WEB)/node_modules/.installed $(CHROMIUM) $(KUBECTL) $(OIP_CLIENT) ## set up, then run every test tier (one pytest session: the pipeline runs once)
	$(PY) -m pytest tests -q

unit: setup $(KUBECTL) $(OIP_CLIENT) ## fast tests: no training, no servers, no containers, no browser
	$(PY) -m pytest tests -q -m "not model and not server and not containers and not browser"

images: setup $(WEB)/node_modules/.installed ## build the container images on a local Debian base (starts Docker; prints sizes and build times)
	bash docker/images.sh

docker-up: images ## the system in containers (docker-compose.yml): REST :8501, gRPC :8500, web :8080, TensorBoard :6006
	@[ -d models/serving/$(NAME) ] || $(MAKE) all
	bash docker/compose.sh up

docker-down: ## stop and remove what docker-up started
	bash docker/compose.sh down --remove-orphans

# The server as REPLICAS swarm replicas behind HAProxy (deploy/swarm/README.md); swarm init if needed.
REPLICAS ?= 3
.PHONY: swarm-up swarm-down
swarm-up: images ## the server as a swarm stack: REPLICAS=3 replicas behind HAProxy, REST :8501, gRPC :8500, web :8080
	@[ -d models/serving/$(NAME) ] || $(MAKE) all
	REPLICAS=$(REPLICAS) MODEL_NAME=$(NAME) bash deploy/swarm/swarm.sh up

swarm-down: ## remove the swarm stack; leave the swarm if swarm-up started it
	bash deploy/swarm/swarm.sh down

WORKERS ?= 2
train-distributed: images ## multi-worker training: WORKERS trainer containers (default 2) on tf.distribute; the chief publishes
	bash docker/train-distributed.sh $(NAME) $(WORKERS) run

integration: setup images ## container tests (tests/system/containers): each artifact in its own image
	$(PY) -m pytest tests/system/containers -q

faults: setup images ## the fault-injection tier: a killed server, deleted versions, bad volumes and warm-up, a full disk
	$(PY) -m pytest tests/system/faults tests/pipeline/test_disk_full.py -q

k8s: .venv/.synced $(KUBECTL) ## render and validate the Kubernetes manifests offline (deploy/k8s; no cluster)
	$(PY) -m pytest tests/deploy/k8s -q

$(KUBECTL):
	@[ "$$(id -u)" = 0 ] || { echo "kubectl is missing: apt-get install kubernetes-client (needs root)"; exit 1; }
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubernetes-client >/dev/null

test-serving: setup $(OIP_CLIENT) ## model server tests (tests/serving): real server processes, REST, gRPC and the Open Inference Protocol
	$(PY) -m pytest tests/serving -q

lint: setup ## check style and formatting (changes nothing)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: setup ## fix style and formatting
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

bench: bench-edge bench-serving bench-pipeline bench-web ## run every benchmark but bench-soak; writes models/reports/<name>/bench.md

bench-serving: setup /usr/bin/wrk /usr/bin/h2load ## the server under wrk (REST) and h2load (gRPC) vs HTTP and gRPC floors and naive Keras; writes bench-serving.md
	$(PY) -m bench.serving --name $(NAME)

# Not part of `make bench`: each peer server has its own environment (envs/peer-*), installed here.
PEERS := $(foreach p,bentoml ray mlserver,envs/peer-$(p)/.venv/.synced)
envs/peer-%/.venv/.synced: envs/peer-%/pyproject.toml envs/peer-%/uv.lock | $(UV)
	$(UV) sync --frozen --project envs/peer-$*
	@touch $@

bench-peers: setup /usr/bin/wrk /usr/bin/h2load $(PEERS) ## this server (REST, Open Inference REST, gRPC) beside BentoML, Ray Serve and MLServer on the same model; writes bench-peers.md
	$(PY) -m bench.peers --name $(NAME)

/usr/bin/wrk:
	@[ "$$(id -u)" = 0 ] || { echo "wrk is missing: apt-get install wrk (needs root)"; exit 1; }
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null

/usr/bin/h2load:
	@[ "$$(id -u)" = 0 ] || { echo "h2load is missing: apt-get install nghttp2-client (needs root)"; exit 1; }
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nghttp2-client >/dev/null

# Not part of `make bench`: it checks that the server holds up, not how fast it is, and takes minutes.
SOAK_SECONDS ?= 120
bench-soak: setup ## the server under load while versions come and go and its config reloads (SOAK_SECONDS=120); writes bench-soak.md
	$(PY) -m bench.soak --name $(NAME) --seconds $(SOAK_SECONDS)

# Not part of `make bench`: it deploys swarm stacks and trains in containers, minutes of work.
bench-scale: setup images /usr/bin/wrk ## serving on 1-3 swarm replicas and training on 1-2 workers, side by side; writes bench-scale.md
	$(PY) -m bench.scale --name $(NAME)

bench-pipeline: setup ## seconds per stage of a full run
	$(PY) -m bench.pipeline --name $(NAME)

bench-edge: setup ## each TFLite variant in LiteRT vs the SavedModel and Keras calls; writes bench-edge.md
	$(PY) -m bench.edge --name $(NAME)

clean: ## remove the environments and everything under models/ (keeps models/README.md)
	rm -rf .venv envs/*/.venv $(TOOLS) $(NODE_DIR)/node_modules
	rm -rf $(WEB)/node_modules $(WEB)/dist
	find models -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +

$(WEB)/node_modules/.installed: $(WEB)/package.json $(WEB)/package-lock.json
	cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(CHROMIUM):
	@bash $(WEB)/install-chromium.sh

web: $(WEB)/node_modules/.installed ## build web/dist: NAME's page at /, a page for every published model and the gallery
	node $(WEB)/build.mjs --models-dir models --name $(NAME) --out $(WEB)/dist

web-dev: web .venv/.synced ## serve web/dist on http://127.0.0.1:8080, /v1/ proxied to MODEL_SERVER_URL
	$(PY) -m web.devserver --root $(WEB)/dist --port 8080 --model-server $(MODEL_SERVER_URL)

web-unit: $(WEB)/node_modules/.installed ## JavaScript unit tests (node --test): preprocessing, formatting, the any-model page's core
	cd $(WEB) && node --test test/

e2e: setup $(WEB)/node_modules/.installed $(CHROMIUM) ## browser tests (tests/system/browser): the demo in headless chromium
	$(PY) -m pytest tests/system/browser -q

bench-web: setup web $(CHROMIUM) ## every model's page in headless Chromium per TF.js backend; writes bench-web.md per model
	$(PY) -m bench.web --name $(NAME)
