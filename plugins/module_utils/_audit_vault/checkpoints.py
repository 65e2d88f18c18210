# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to the collection: not a public API, it may change without notice.
# Do not use it from other collections or standalone plugins/modules.
"""The chain's signed checkpoints in the vault (the vault_checkpoints module's one call,
:func:`run_checkpoints`): each note of a source database's history kept once, write-once like the
log. The notes are verified on the controller (the checkpoint action plugin): the vault needs no
key and no cryptography."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgtrail.audit.plugins.module_utils import postgres
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_vault.common import CHECKPOINTS, Refused, ident
from ansible_collections.pgtrail.audit.plugins.module_utils.postgres import sql

# In the order they were stored (one run stores its notes in one transaction, clock_timestamp()
# apart), which is the order the controller's history appended them.
STORED = (
    "SELECT c.origin, c.block, c.note, c.signed_at::text AS signed_at, c.stored_at::text AS stored_at"
    " FROM {} AS c ORDER BY c.stored_at, c.block"
)
INSERT = "INSERT INTO {} (origin, block, note, signed_at) VALUES (%s, %s, %s, %s::timestamptz)"


def checkpoint_rows(entries):
    """(rows, problems) of history entries ``{note, block, at}`` (pure): each row's origin is its
    note's first line; a note without one or an entry without a block is a problem naming it."""
    rows, problems = [], []
    for position, entry in enumerate(entries, 1):
        note = entry.get("note") or ""
        origin = note.split("\n", 1)[0]
        if not origin or "\n" not in note:
            problems.append("checkpoint %d has no note (a signed note: origin, size, root, signatures)" % position)
        elif isinstance(entry.get("block"), bool) or not isinstance(entry.get("block"), int):
            problems.append("checkpoint %d (%s) has no block number: %r" % (position, origin, entry.get("block")))
        else:
            rows.append(dict(origin=origin, block=entry["block"], note=note, signed_at=entry.get("at")))
    return rows, problems


def store_checkpoints(session, params):
    """Add the notes the vault does not hold yet, in the given order; read them all."""
    table = ident(params["schema"], CHECKPOINTS)
    if not session.scalar("SELECT pg_catalog.to_regclass(%s) IS NOT NULL", [table.as_string(session.conn)]):
        raise Refused(["no table %s.%s here: set the vault up first (site.yml)" % (params["schema"], CHECKPOINTS)])
    rows, problems = checkpoint_rows(params["checkpoints"])
    if problems:
        raise Refused(problems)
    stored = session.query(sql.SQL(STORED).format(table))
    held = set(row["note"] for row in stored)
    added = []
    for row in rows:
        if row["note"] in held:
            continue
        held.add(row["note"])
        session.change(sql.SQL(INSERT).format(table), [row["origin"], row["block"], row["note"], row["signed_at"]])
        added.append(dict(row, stored_at=None))
    if added and not session.module.check_mode:
        stored = session.query(sql.SQL(STORED).format(table))
    else:
        stored.extend(added)
    name = "%s.%s" % (params["schema"], CHECKPOINTS)
    return dict(
        changed=bool(added),
        added=len(added),
        checkpoints=stored,
        executed_queries=session.executed_queries,
        diff=dict(before_header=name, after_header=name, before="", after="".join(row["note"] for row in added)),
    )


def run_checkpoints(module):
    """The vault_checkpoints module's one call."""
    return postgres.run_in_one_transaction(module, module.params["database"], store_checkpoints, Refused)
