# Shared by the project's scripts: where caches live and how progress is printed.
# shellcheck shell=bash

# Outside the clone, so a fresh clone on the same machine reuses images, repos and venvs.
PGTRAIL_CACHE=${PGTRAIL_CACHE:-$HOME/.cache/pgtrail}
export PGTRAIL_CACHE

step() { printf '\n==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# Install Debian packages whose commands are missing: ensure_packages command:package ...
ensure_packages() {
  local entry missing=()
  for entry in "$@"; do
    command -v "${entry%%:*}" >/dev/null 2>&1 || missing+=("${entry##*:}")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  step "installing ${missing[*]} from Debian"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}
