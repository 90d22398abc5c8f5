#!/usr/bin/env bash
# Compiles serving/_jsonfloat.c into an extension module beside it, for the given Python:
#   bash serving/build_ext.sh .venv/bin/python
# Run by `make setup` and in the model-server and trainer images' build stages; needs a C compiler
# and the interpreter's headers (Python.h).
set -euo pipefail
python="${1:?usage: build_ext.sh PYTHON}"
here="$(cd "$(dirname "$0")" && pwd)"
read -r include suffix < <("$python" -c \
  'import sysconfig; print(sysconfig.get_paths()["include"], sysconfig.get_config_var("EXT_SUFFIX"))')
if [[ ! -f "$include/Python.h" ]]; then
  echo "serving/build_ext.sh: no Python.h under $include (install the interpreter's headers, e.g. python3-dev)" >&2
  exit 1
fi
if ! command -v cc >/dev/null; then
  echo "serving/build_ext.sh: no C compiler (cc); install one, e.g. Debian's gcc" >&2
  exit 1
fi
out="$here/_jsonfloat$suffix"
cc -O2 -fPIC -shared -Wall -Wextra -Wno-unused-parameter -Werror -fno-strict-overflow -I"$include" \
  "$here/_jsonfloat.c" -o "$out.tmp"
mv "$out.tmp" "$out"
