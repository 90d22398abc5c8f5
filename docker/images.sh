#!/usr/bin/env bash
# Build the project's images on the local base image and print each one's size and build time.
#   docker/images.sh [BASE_IMAGE]       (default debian:bookworm-slim, built locally if no registry)
set -euo pipefail
cd "$(dirname "$0")/.."
base="${1:-debian:bookworm-slim}"
bash docker/engine.sh
bash docker/base-image.sh "$base"
bash docker/wheelhouse.sh docker/wheels/edge-litert . ai-edge-litert pillow
bash docker/wheelhouse.sh docker/wheels/edge-tflite214 envs/tflite214 tflite-runtime numpy pillow tflite
bash docker/wheelhouse.sh docker/wheels/serving . tensorflow tensorflow-serving-api aiohttp uvloop rich
bash docker/wheelhouse.sh docker/wheels/trainer . tensorflow tensorflow-serving-api keras ai-edge-litert \
  scikit-learn pillow matplotlib rich tensorboard aiohttp uvloop
bash docker/wheelhouse.sh docker/wheels/trainer-tfjs envs/tfjs tensorflowjs ydf setuptools
[ -d pipeline/tfjs_node/node_modules ] || { echo "docker/images.sh: run make setup first (pipeline/tfjs_node/node_modules)" >&2; exit 1; }
[ -d web/node_modules ] || { echo "docker/images.sh: run make web first (web/node_modules)" >&2; exit 1; }

image_id() { docker image inspect -f '{{.Id}}' "$1" 2>/dev/null || true; }

build() {  # tag dockerfile [build-arg ...]
  local tag="$1" file="$2" start log stage id root
  shift 2
  start=$(date +%s%N)
  local old=("$(image_id "$tag")" "$(image_id "$tag:build")")
  log="$(mktemp)"
  # the legacy builder (Debian's docker.io has no buildx) warns on every build: shown only on failure
  if ! docker build -f "$file" --build-arg "BASE_IMAGE=$base" "$@" -t "$tag" . >"$log" 2>&1; then
    cat "$log" >&2
    if grep -q "no space left on device" "$log"; then
      root="$(docker info -f '{{.DockerRootDir}}')"
      echo "docker/images.sh: building $tag failed: the disk under $root is full" \
        "($(df -h --output=avail "$root" | tail -1 | tr -d ' ') free; the images need about 20 GB)" >&2
    else
      echo "docker/images.sh: building $tag failed" >&2
    fi
    exit 1
  fi
  # The legacy builder leaves a build stage behind as an untagged image (several GB for TensorFlow)
  # and a new one after every change. Its last step before the second FROM is tagged NAME:build:
  # kept for the layer cache, and replaced like the image.
  stage="$(awk '/^Step [0-9]+\/[0-9]+ : FROM /{if (++n == 2) {print id; exit}} /^ ---> [0-9a-f]+$/{id=$2}' "$log")"
  rm -f "$log"
  [ -z "$stage" ] || docker tag "$stage" "$tag:build"
  # what this build replaced goes, with its untagged layers, so that rebuilds do not fill the disk
  for id in "${old[@]}"; do
    [ -n "$id" ] && [ "$(docker image inspect -f '{{len .RepoTags}}' "$id" 2>/dev/null)" = 0 ] || continue
    if ! err="$(docker rmi "$id" 2>&1 >/dev/null)"; then
      case "$err" in
        *"dependent child images"*) ;; # the new build was built on it: a layer, not replaced
        *) echo "docker/images.sh: kept the replaced $tag image ${id#sha256:}: ${err##*: }" >&2 ;;
      esac
    fi
  done
  printf '%-16s %6d MB  built in %6.1f s\n' "$tag" \
    "$(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%d", $1/1e6}')" \
    "$(awk -v ns=$(($(date +%s%N) - start)) 'BEGIN {print ns/1e9}')"
}
echo "image             size      build time"
build edge-litert mobile/Dockerfile --build-arg WHEELS=docker/wheels/edge-litert
build edge-tflite214 mobile/Dockerfile --build-arg WHEELS=docker/wheels/edge-tflite214
build model-server serving/Dockerfile --build-arg WHEELS=docker/wheels/serving
node web/build.mjs --no-model --out docker/web-dist >/dev/null
build web-demo web/Dockerfile
build model-proxy deploy/swarm/proxy/Dockerfile
build trainer pipeline/Dockerfile
