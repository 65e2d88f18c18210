#!/usr/bin/env bash
# Prints the path of a virtualenv holding requirements-test.txt, creating it when needed.
# The venv lives in the cache, keyed by the requirement files, so clones share it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$here")
# shellcheck source=scripts/common.sh
. "$here/common.sh"

key=$(cat "$top/requirements.txt" "$top/requirements-test.txt" | sha256sum | cut -c1-12)
venv="$PGTRAIL_CACHE/venv-$key"
if [ ! -x "$venv/bin/molecule" ]; then
  step "creating the test virtualenv $venv (a few minutes the first time)" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip >&2
  "$venv/bin/pip" install -q -r "$top/requirements-test.txt" >&2
fi
echo "$venv"
