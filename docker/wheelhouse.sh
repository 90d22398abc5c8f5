#!/usr/bin/env bash
# A wheelhouse for one image: the given top-level packages, pinned to the versions in a project's
# uv.lock, downloaded on the host (containers here cannot reach the Python index over HTTPS).
#   docker/wheelhouse.sh OUT_DIR PROJECT_DIR PACKAGE...
# OUT_DIR gets requirements.txt and the wheels it names. Idempotent per lock and package list, and
# byte-identical across clones (no annotations naming temp files), so Docker's layer cache holds.
set -euo pipefail
out="$1"; project="$2"; shift 2
root="$(cd "$(dirname "$0")/.." && pwd)"
uv="$root/.tools/bin/uv"
pip="$root/.tools/bin/pip"
stamp="$(cat "$project/uv.lock" "$0" <(printf '%s\n' "$@") | sha256sum | cut -c1-16)"
if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ]; then
  exit 0
fi
rm -rf "$out"
mkdir -p "$out"
constraints="$(mktemp)"
trap 'rm -f "$constraints"' EXIT
UV_PYTHON_DOWNLOADS=never "$uv" export --frozen --no-dev --no-hashes --no-emit-project \
  --project "$project" -o "$constraints" >/dev/null
printf '%s\n' "$@" | UV_PYTHON_DOWNLOADS=never "$uv" pip compile --quiet --no-header --no-annotate \
  --python-version 3.11 --python-platform x86_64-manylinux_2_28 -c "$constraints" - -o "$out/requirements.txt"
# any wheel Debian bookworm's glibc (2.36) and CPython 3.11 can load
platforms=(--platform any --platform manylinux2014_x86_64)
for v in $(seq 17 36); do platforms+=(--platform "manylinux_2_${v}_x86_64"); done
"$pip" download --quiet --no-deps --ignore-requires-python --only-binary=:all: --python-version 3.11 "${platforms[@]}" \
  -r "$out/requirements.txt" -d "$out" 2> >(grep -v "is ignored: it is neither" >&2)
echo "$stamp" > "$out/.stamp"
echo "wheelhouse $out: $(ls "$out"/*.whl | wc -l) wheels, $(du -sh "$out" | cut -f1)"
