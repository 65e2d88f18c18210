#!/usr/bin/env bash
# Makes tests/output/collections/ansible_collections/pgtrail/audit point at this checkout, so
# ansible.cfg's collections_path finds the collection without installing it.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
link="$top/tests/output/collections/ansible_collections/pgtrail/audit"
mkdir -p "$(dirname "$link")"
[ -L "$link" ] || ln -s "$top" "$link"
