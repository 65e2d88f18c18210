#!/usr/bin/env bash
# ansible-test sanity, offline: ansible-test needs the collection at a path ending in
# ansible_collections/pgtrail/audit (a copy of the tracked files) and pip's bootstrap script,
# which it would download; ensurepip stands in for it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$here")
# shellcheck source=scripts/common.sh
. "$here/common.sh"

python=${PGTRAIL_SANITY_PYTHON:-3.11}
requirements=$(python -c 'import ansible_test, os; print(os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py"))')
pip_version=$(grep -oP "pip='\K[0-9.]+" "$requirements")
stand_in="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
if [ ! -f "$stand_in" ]; then
  mkdir -p "$(dirname "$stand_in")"
  echo 'import ensurepip; ensurepip.bootstrap(upgrade=True)' >"$stand_in"
fi

# A private copy per run, so several runs (developers, helpers) do not collide.
mkdir -p "$PGTRAIL_CACHE"
work=$(mktemp -d "$PGTRAIL_CACHE/sanity.XXXXXX")
trap 'rm -rf "$work"' EXIT
copy="$work/ansible_collections/pgtrail/audit"
mkdir -p "$copy"
(cd "$top" && git ls-files -co --exclude-standard -z | xargs -0 -I{} sh -c 'test -e "{}" && echo "{}"' \
  | tar -cf - -T -) | tar -C "$copy" -xf -
cd "$copy"
ansible-test sanity --venv --python "$python" "$@"
