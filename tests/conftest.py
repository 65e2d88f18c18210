"""Make this checkout importable as ``ansible_collections.pgtrail.audit``.

Ansible imports collection code only under that package path; a symlink tree in tests/output
(ignored by git, the build and the linters) gives it to pytest without installing anything.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLLECTIONS = ROOT / "tests" / "output" / "collections"


def _link_collection():
    link = COLLECTIONS / "ansible_collections" / "pgtrail" / "audit"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        for init in (COLLECTIONS / "ansible_collections", link.parent):
            (init / "__init__.py").touch()
        os.symlink(ROOT, link)
    if str(COLLECTIONS) not in sys.path:
        sys.path.insert(0, str(COLLECTIONS))


_link_collection()
