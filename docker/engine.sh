#!/usr/bin/env bash
# A running Docker engine, or one clear line saying what is missing.
# Installs Debian's docker.io and docker-compose when they are absent and we are root, and starts
# dockerd when it is not running (no engine runs on a fresh machine of this kind). Idempotent.
set -euo pipefail
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v debootstrap >/dev/null || need+=(debootstrap)
if ((${#need[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "docker/engine.sh: missing ${need[*]}; install them as root (apt-get install -y ${need[*]})" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
if docker info >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "docker/engine.sh: the Docker engine is not running and starting it needs root (dockerd)" >&2
  exit 1
fi
mkdir -p /var/log
nohup dockerd >/var/log/dockerd.log 2>&1 &
for _ in $(seq 60); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "docker/engine.sh: dockerd did not come up in 60 s; see /var/log/dockerd.log" >&2
exit 1
