#!/usr/bin/env bash
# The base image every Dockerfile builds FROM (build arg BASE_IMAGE), default debian:bookworm-slim.
# Pulls it when a registry answers; otherwise builds the same Debian release locally from the
# Debian mirror with debootstrap and `docker import`s it under the same name. Idempotent.
set -euo pipefail
image="${1:-debian:bookworm-slim}"
suite="${image#*:}"; suite="${suite%%-*}"
if docker image inspect "$image" >/dev/null 2>&1; then
  exit 0
fi
if timeout 60 docker pull -q "$image" >/dev/null 2>&1; then
  echo "pulled $image"
  exit 0
fi
echo "no registry: building $image with debootstrap ($suite, minbase)"
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase "$suite" "$root" http://deb.debian.org/debian >/dev/null
# like the official slim images: no docs, no apt lists, no caches
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/*
tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["bash"]' - "$image" >/dev/null
echo "built $image ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}'))"
