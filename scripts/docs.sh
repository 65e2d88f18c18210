#!/usr/bin/env bash
# Renders the collection's reference (what ansible-doc shows: every module and filter, both
# roles' entry points from their argument specs) as HTML with antsibull-docs and Sphinx:
#
#   scripts/docs.sh            writes build/docs/build/html/index.html
#
# The argument specs and DOCUMENTATION blocks are the one source; this only renders them.
# Links into Ansible's own documentation (intersphinx) need the network: offline they stay text.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$here")
# shellcheck source=scripts/common.sh
. "$here/common.sh"

venv=$("$here/venv.sh")
export PATH="$venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$top/tests/output/collections"
"$here/collection-link.sh"

dest="$top/build/docs"
rm -rf "$dest"
mkdir -p "$dest"
step "antsibull-docs: the collection's reference as reStructuredText"
antsibull-docs sphinx-init --use-current --dest-dir "$dest" pgtrail.audit >/dev/null
mkdir -p "$dest/rst"
chmod og-w "$dest/rst" # antsibull-docs wants it writable by its owner only
(cd "$dest" && antsibull-docs --config-file antsibull-docs.cfg collection --cleanup everything \
  --use-current --dest-dir rst pgtrail.audit)
step "sphinx-build: HTML"
# Not -W: offline, the links into docs.ansible.com are warnings, not errors.
(cd "$dest" && sphinx-build -M html rst build -c . -q 2>"$dest/sphinx-warnings.log") ||
  die "sphinx-build failed; see $dest/sphinx-warnings.log"
info "open $dest/build/html/collections/pgtrail/audit/index.html"
