#!/usr/bin/env bash
# docker compose (the v2 plugin) or docker-compose (1.29, what Debian packages), on this repo's
# docker-compose.yml, with the Docker engine started first.
#   docker/compose.sh up [SERVICE...]   up -d, then wait until every service is healthy (compose
#                                       1.29 has no `up --wait`) and print where each one answers
#   docker/compose.sh ARGS...           any other compose command, e.g. down, ps, logs, run --rm trainer
# Settings come from .env and the environment (ports, MODELS_DIR, COMPOSE_PROFILES, …).
set -euo pipefail
cd "$(dirname "$0")/.."
bash docker/engine.sh
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
else
  compose=(docker-compose)
fi
if [ "${1:-}" != up ]; then
  exec "${compose[@]}" "$@"
fi
shift
"${compose[@]}" up -d "$@"

timeout_s="${COMPOSE_WAIT_SECONDS:-240}"
deadline=$((SECONDS + timeout_s))
while :; do
  waiting=()
  for id in $("${compose[@]}" ps -q); do
    read -r name state health < <(docker inspect -f \
      '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$id")
    name="${name#/}"
    if [ "$state" != running ] || [ "$health" = unhealthy ]; then
      docker logs --tail 30 "$id" >&2 || true
      echo "docker/compose.sh: $name is $state${health:+ ($health)}" >&2
      exit 1
    fi
    [ "$health" = healthy ] || [ "$health" = none ] || waiting+=("$name")
  done
  ((${#waiting[@]} == 0)) && break
  if ((SECONDS >= deadline)); then
    echo "docker/compose.sh: not healthy after ${timeout_s} s: ${waiting[*]}" >&2
    exit 1
  fi
  sleep 2
done

for id in $("${compose[@]}" ps -q); do
  service="$(docker inspect -f '{{index .Config.Labels "com.docker.compose.service"}}' "$id")"
  case "$service" in
    model-server | tf-serving)
      echo "$service: REST http://$(docker port "$id" 8501/tcp)/v1/models/${MODEL_NAME:-digits}  gRPC $(docker port "$id" 8500/tcp)" ;;
    web) echo "web: http://$(docker port "$id" 8080/tcp)/" ;;
    tensorboard) echo "tensorboard: http://$(docker port "$id" 6006/tcp)/" ;;
  esac
done
