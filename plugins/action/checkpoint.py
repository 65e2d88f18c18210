# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pgtrail.audit.checkpoint: signs chain heads on the controller (documented in
plugins/modules/checkpoint.py). Nothing is sent to the host: the private key stays here."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os

from ansible_collections.pgtrail.audit.plugins.plugin_utils import checkpoint as cp
from ansible_collections.pgtrail.audit.plugins.plugin_utils.note_action import NoteAction

ARGUMENT_SPEC = dict(
    history=dict(type="path"),
    vkey=dict(type="str"),
    key=dict(type="str", no_log=True),
    key_name=dict(type="str"),
    head=dict(type="dict"),
    notes=dict(type="list", elements="str"),
)


def _read(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return ""


def _new_note(head, previous, name, private):
    """The signed note of ``head``, or None when it is the last entry's; refuses a head of another
    chain or one that goes back."""
    for field in ("origin", "size", "root"):
        if head.get(field) in (None, ""):
            raise cp.NoteError("head has no %s: give the head that chain_verify returned for a v2 chain" % field)
    text = cp.checkpoint_text(head["origin"], head["size"], head["root"])
    if previous:
        if previous["origin"] != head["origin"]:
            raise cp.NoteError(
                "the history's last checkpoint is of chain %s, this head of %s" % (previous["origin"], head["origin"])
            )
        if head["size"] < previous["size"]:
            raise cp.NoteError(
                "the head's size %d is below the last checkpoint's %d" % (head["size"], previous["size"])
            )
        if head["size"] == previous["size"]:
            if head["root"] != previous["root"]:
                raise cp.NoteError("the head has the last checkpoint's size %d with another root" % head["size"])
            return None
    return cp.sign(text, name, private)


class ActionModule(NoteAction):
    ARGUMENT_SPEC = ARGUMENT_SPEC
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    def act(self, args, result):
        path = args["history"]
        result.update(changed=False, previous=None, note=None, vkey=None)
        vkey, private = cp.keys(args["key"], args["key_name"], args["vkey"])
        result["vkey"] = vkey
        if args["notes"] is not None:
            # A stored copy of a history (the vault's): every note, in the order stored.
            problems = cp.sequence_problems(args["notes"], vkey)
            result.update(checked=len(args["notes"]), problems=problems)
            if problems:
                raise cp.NoteError("; ".join(problems))
        previous = cp.last_entry(_read(path), vkey, path) if path else None
        result["previous"] = previous
        if args["head"] is None:
            return result
        if not path:
            raise cp.NoteError("history is required with head (the file the checkpoint is appended to)")
        if private is None:
            raise cp.NoteError("key and key_name are required to sign a head")
        note = _new_note(args["head"], previous, args["key_name"], private)
        if note is None:
            return result
        at = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        line = cp.history_entry(note, args["head"].get("block"), at)
        result.update(changed=True, note=note)
        if self._task.diff:
            result["diff"] = dict(before_header=path, after_header=path, before="", after=line)
        if self._task.check_mode:
            return result
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, mode=0o755, exist_ok=True)
        # Append only: what was signed before is never rewritten.
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        return result
