# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pgtrail.audit.bundle: signs or verifies the SHA-256 of a directory's files on the controller
(documented in plugins/modules/bundle.py). Nothing is sent to the host."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.pgtrail.audit.plugins.plugin_utils import checkpoint as cp
from ansible_collections.pgtrail.audit.plugins.plugin_utils.note_action import NoteAction

ARGUMENT_SPEC = dict(
    path=dict(type="path", required=True),
    state=dict(type="str", choices=["signed", "verified"], default="signed"),
    vkey=dict(type="str"),
    key=dict(type="str", no_log=True),
    key_name=dict(type="str"),
)


def digests(directory):
    """``{relative path: sha256 hex}`` of every file under ``directory`` but the bundle note."""
    found = {}
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in files:
            full = os.path.join(root, name)
            relative = os.path.relpath(full, directory).replace(os.sep, "/")
            if relative == cp.BUNDLE_NOTE:
                continue
            digest = hashlib.sha256()
            with open(full, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
            found[relative] = digest.hexdigest()
    return found


class ActionModule(NoteAction):
    ARGUMENT_SPEC = ARGUMENT_SPEC
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    def act(self, args, result):
        directory = args["path"]
        note_path = os.path.join(directory, cp.BUNDLE_NOTE)
        result.update(changed=False, problems=[], note=note_path)
        if not os.path.isdir(directory):
            raise cp.NoteError("%s is not a directory" % directory)
        vkey, private = cp.keys(args["key"], args["key_name"], args["vkey"])
        result["vkey"] = vkey
        found = digests(directory)
        existing = None
        if os.path.exists(note_path):
            with open(note_path, "rb") as handle:
                existing = to_text(handle.read())
        if args["state"] == "verified":
            if existing is None:
                raise cp.NoteError("%s has no %s: the bundle was never signed" % (directory, cp.BUNDLE_NOTE))
            result["problems"] = cp.bundle_problems(cp.open_note(existing, vkey), found)
            if result["problems"]:
                result.update(failed=True, msg="the bundle %s does not verify: %s" % (
                    directory, "; ".join(result["problems"])))  # fmt: skip
            return result
        if private is None:
            raise cp.NoteError("key and key_name are required to sign a bundle")
        text = cp.bundle_text(found)
        try:
            if existing is not None and cp.open_note(existing, vkey) == text:
                return result
        except cp.NoteError:
            pass  # an old or foreign note is replaced
        note = cp.sign(text, args["key_name"], private)
        result["changed"] = True
        if not self._task.check_mode:
            with open(note_path, "w", encoding="utf-8") as handle:
                handle.write(note)
        return result
