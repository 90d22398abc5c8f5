#!/bin/sh
# The web image's entrypoint: MODEL_NAME (default digits) is the model the page at / shows, served
# as /config.json; then nginx, with any arguments given (the Kubernetes manifest adds -c FILE).
set -eu
name="${MODEL_NAME:-digits}"
case "$name" in
  "" | [._-]* | *[!A-Za-z0-9._-]*)
    echo "web: error: MODEL_NAME \"$name\" is not a model name (letters, digits, '.', '_' and '-')" >&2
    exit 2 ;;
esac
printf '{"model": "%s"}\n' "$name" > /tmp/config.json
exec nginx -g "daemon off;" "$@"
