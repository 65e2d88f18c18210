#!/usr/bin/env bash
# Prints the path of a virtualenv holding requirements-test.txt, creating it when needed.
# The venv lives in the cache, keyed by the requirement files, so clones share it.
#
#   scripts/venv.sh          the test venv (requirements-test.txt)
#   scripts/venv.sh 2.17     a venv with ansible-core 2.17 (requirements-core-2.17.txt), on the
#                            Python its first line names (`# python: 3.12`; pyenv's when the
#                            command is not on PATH)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$here")
# shellcheck source=scripts/common.sh
. "$here/common.sh"

# The interpreter of a `python: X.Y` line: pythonX.Y on PATH that runs, else pyenv's X.Y.*.
find_python() {
  local version=$1 candidate
  for candidate in "$(command -v "python$version" || true)" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/python"$version"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" -c '' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  die "no Python $version found (on PATH or in pyenv's versions)"
}

if [ -n "${1:-}" ]; then
  requirements="$top/requirements-core-$1.txt"
  [ -f "$requirements" ] || die "no $requirements"
  python=$(find_python "$(sed -n 's/^# python: *//p' "$requirements" | head -n1)")
  key=$(sha256sum <"$requirements" | cut -c1-12)
  venv="$PGTRAIL_CACHE/venv-core-$1-$key"
  ready="$venv/bin/ansible-playbook"
else
  requirements="$top/requirements-test.txt"
  python=python3
  key=$(cat "$top/requirements.txt" "$top/requirements-test.txt" | sha256sum | cut -c1-12)
  venv="$PGTRAIL_CACHE/venv-$key"
  ready="$venv/bin/molecule"
fi
if [ ! -x "$ready" ]; then
  step "creating the virtualenv $venv (a few minutes the first time)" >&2
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip >&2
  "$venv/bin/pip" install -q -r "$requirements" >&2
fi
echo "$venv"
