# Shared by the project's scripts: where caches live and how progress is printed.
# shellcheck shell=bash

# Outside the clone, so a fresh clone on the same machine reuses images, repos and venvs.
PGTRAIL_CACHE=${PGTRAIL_CACHE:-$HOME/.cache/pgtrail}
export PGTRAIL_CACHE

step() { printf '\n==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }
