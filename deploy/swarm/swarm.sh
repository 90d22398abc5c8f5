#!/usr/bin/env bash
# The model server as a swarm stack (deploy/swarm/stack.yml): REPLICAS replicas behind HAProxy.
#   deploy/swarm/swarm.sh up      swarm init if needed, deploy, wait until every replica is ready
#   deploy/swarm/swarm.sh down    remove the stack; leave the swarm if `up` created it
# Settings (environment): STACK (keras-deploy), REPLICAS (3), MODEL_NAME (digits), MODELS_DIR
# (./models), REST_PORT (8501), GRPC_PORT (8500), WEB_PORT (8080), BIND_ADDRESS (127.0.0.1: where a
# swarm created here publishes ports), ENDPOINT_MODE (dnsrr; vip where the kernel has IPVS),
# WAIT_SECONDS (300); for `down`, KEEP_SWARM=1 keeps the swarm even if `up` created it.
set -euo pipefail
cd "$(dirname "$0")/../.."
export STACK="${STACK:-keras-deploy}" REPLICAS="${REPLICAS:-3}" MODEL_NAME="${MODEL_NAME:-digits}"
export REST_PORT="${REST_PORT:-8501}" GRPC_PORT="${GRPC_PORT:-8500}" WEB_PORT="${WEB_PORT:-8080}"
export SERVER_SLOTS="${SERVER_SLOTS:-16}"
BIND_ADDRESS="${BIND_ADDRESS:-127.0.0.1}"
WAIT_SECONDS="${WAIT_SECONDS:-300}"
MARK=keras-deploy.swarm-up  # on the node and docker_gwbridge when `up` created them: `down` undoes
me="deploy/swarm/swarm.sh"

die() { echo "$me: $*" >&2; exit 1; }

swarm_state() { docker info -f '{{.Swarm.LocalNodeState}}'; }

# Host-mode ports of swarm tasks are bound through the docker_gwbridge network, on the address it
# was created with (the stack format has no host IP). It exists once the engine has been in a
# swarm; made here first, it binds BIND_ADDRESS.
init_swarm() {
  if ! docker network inspect docker_gwbridge >/dev/null 2>&1; then
    docker network create --driver bridge --label "$MARK=created" \
      -o com.docker.network.bridge.name=docker_gwbridge \
      -o com.docker.network.bridge.enable_icc=false \
      -o com.docker.network.bridge.enable_ip_masquerade=true \
      -o com.docker.network.bridge.host_binding_ipv4="$BIND_ADDRESS" docker_gwbridge >/dev/null
  fi
  # a swarm of this one machine; to span machines, init or join one yourself before `up`
  docker swarm init --advertise-addr 127.0.0.1 >/dev/null
  docker node update --label-add "$MARK=created" "$(docker info -f '{{.Swarm.NodeID}}')" >/dev/null
  echo "$me: started a one-node swarm (make swarm-down leaves it)"
}

# each replica's state in the proxy, for backend $1: "UP", "DOWN", ... one a line
proxy_states() {
  local id
  id="$(docker ps -q -f "label=com.docker.swarm.service.name=${STACK}_proxy" -f status=running | head -1)"
  [ -n "$id" ] || return 0
  docker exec "$id" bash -c 'exec 3<>/dev/tcp/127.0.0.1/8404 &&
    printf "GET /stats;csv HTTP/1.0\r\n\r\n" >&3 && cat <&3' 2>/dev/null |
    awk -F, -v b="$1" '$1 == b && $2 != "BACKEND" && $2 != "FRONTEND" {print $18}'
}

up_count() { proxy_states "$1" | grep -c '^UP' || true; }

running() {  # "running/desired" of service $1
  docker service ls -f "name=${STACK}_$1" --format '{{.Name}} {{.Replicas}}' |
    awk -v n="${STACK}_$1" '$1 == n {print $2}'
}

wait_ready() {
  local deadline=$((SECONDS + WAIT_SECONDS)) rest grpc
  while ((SECONDS < deadline)); do
    rest="$(up_count rest)" grpc="$(up_count grpc)"
    if [ "$rest" = "$REPLICAS" ] && [ "$grpc" = "$REPLICAS" ] && [ "$(running web)" = 1/1 ] &&
      [ "$(running model-server)" = "$REPLICAS/$REPLICAS" ]; then
      return 0
    fi
    sleep 1
  done
  docker service ps --no-trunc -f desired-state=running --format '{{.Name}} {{.CurrentState}} {{.Error}}' \
    "${STACK}_model-server" "${STACK}_proxy" "${STACK}_web" >&2 || true
  docker service logs --tail 20 "${STACK}_model-server" >&2 2>&1 || true
  die "not ready after ${WAIT_SECONDS} s: the proxy sees $rest REST and $grpc gRPC replicas of $REPLICAS ready"
}

published() {  # the address the proxy's port $1 is bound on
  local id
  id="$(docker ps -q -f "label=com.docker.swarm.service.name=${STACK}_proxy" -f status=running | head -1)"
  docker inspect -f "{{(index (index .NetworkSettings.Ports \"$1/tcp\") 0).HostIp}}" "$id"
}

up() {
  [[ "$REPLICAS" =~ ^[1-9][0-9]*$ ]] || die "REPLICAS must be a positive integer, not '$REPLICAS'"
  ((REPLICAS < SERVER_SLOTS)) || die "REPLICAS=$REPLICAS: the proxy follows $SERVER_SLOTS replicas at most, one of them for rolling updates (set SERVER_SLOTS)"
  MODELS_DIR="$(realpath -m "${MODELS_DIR:-models}")"
  export MODELS_DIR
  [ -d "$MODELS_DIR/serving/$MODEL_NAME" ] ||
    die "no published model at $MODELS_DIR/serving/$MODEL_NAME: run make all"
  bash docker/engine.sh
  for image in model-server model-proxy web-demo; do
    docker image inspect "$image" >/dev/null 2>&1 || die "image $image is missing: run make images"
  done
  case "$(swarm_state)" in
    active) ;;
    inactive) init_swarm ;;
    *) die "this engine's swarm state is '$(swarm_state)'; see docker info" ;;
  esac
  # local images, on every node: no registry to resolve them in
  local out
  out="$(docker stack deploy --resolve-image never -c deploy/swarm/stack.yml "$STACK" 2>&1)" ||
    die "docker stack deploy failed: $out"
  echo "$me: stack $STACK deployed; waiting for $REPLICAS replicas to be ready behind the proxy"
  wait_ready
  local host
  host="$(published 8501)"
  [ -n "$host" ] || host="every interface of this machine"
  cat <<EOF
$me: ready, $REPLICAS replicas of $MODEL_NAME (published on ${host}):
  REST  http://127.0.0.1:$REST_PORT/v1/models/$MODEL_NAME
  gRPC  127.0.0.1:$GRPC_PORT
  web   http://127.0.0.1:$WEB_PORT/
  inside the network ${STACK}_serving: tasks.${STACK}_model-server:8500 (every replica), e.g.
    docker run --rm --network ${STACK}_serving model-server python -m serving.client grpc \\
      --target dns:///tasks.${STACK}_model-server:8500 --lb round_robin --npy BATCH.npy
EOF
}

gone() {  # no container, service or network of the stack is left
  [ -z "$(docker ps -aq -f "label=com.docker.stack.namespace=$STACK")" ] &&
    [ -z "$(docker service ls -q -f "label=com.docker.stack.namespace=$STACK")" ] &&
    [ -z "$(docker network ls -q -f "label=com.docker.stack.namespace=$STACK")" ]
}

down() {
  docker info >/dev/null 2>&1 || die "the Docker engine is not running"
  if [ "$(swarm_state)" = active ]; then
    docker stack rm "$STACK" >/dev/null 2>&1 || true
    local deadline=$((SECONDS + 120)) net
    until gone; do
      ((SECONDS < deadline)) || die "stack $STACK still has containers or networks after 120 s"
      # `stack rm` removes networks once: those still attached to a stopping task are retried here
      if [ -z "$(docker ps -aq -f "label=com.docker.stack.namespace=$STACK")" ]; then
        for net in $(docker network ls -q -f "label=com.docker.stack.namespace=$STACK"); do
          docker network rm "$net" >/dev/null 2>&1 || true
        done
      fi
      sleep 1
    done
    echo "$me: stack $STACK removed"
    if [ -z "${KEEP_SWARM:-}" ] &&
      [ "$(docker node inspect self -f "{{index .Spec.Labels \"$MARK\"}}")" = created ]; then
      if [ -n "$(docker service ls -q)" ]; then
        echo "$me: other services run in this swarm: it stays (docker swarm leave --force ends it)"
      else
        docker swarm leave --force >/dev/null
        echo "$me: left the swarm swarm-up started"
      fi
    fi
  fi
  # the bridge `up` made for the swarm's published ports, once no swarm uses it
  if [ "$(swarm_state)" = inactive ] &&
    [ "$(docker network inspect -f "{{index .Labels \"$MARK\"}}" docker_gwbridge 2>/dev/null)" = created ]; then
    docker network rm docker_gwbridge >/dev/null 2>&1 || true
  fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) die "usage: $me up|down" ;;
esac
