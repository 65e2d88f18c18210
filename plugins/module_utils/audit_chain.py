# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verifying the audit log's hash chain: seal what waits, walk the chain, compare the head.

The SQL lives with the trail (audit_trail.py: seal_chain() and verify_chain()); this is what the
chain_verify module does with it: check the declared head, seal the rows waiting (in a
transaction of its own, committed before the walk), call verify_chain() in a read-only
transaction, and shape its row (pure, unit-tested).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.pgtrail.audit.plugins.module_utils import audit_trail, postgres

_HASH = re.compile(r"^[0-9a-fA-F]{64}$")

HAS_CHAIN = """
SELECT EXISTS (SELECT FROM pg_catalog.pg_proc AS p JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
                WHERE n.nspname = %(schema)s AND p.proname = %(verify)s) AS verifier,
       EXISTS (SELECT FROM pg_catalog.pg_proc AS p JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
                WHERE n.nspname = %(schema)s AND p.proname = %(seal)s) AS sealer
"""

VERIFY = "SELECT * FROM {function}(%s, %s)"


class ChainError(Exception):
    """Input or state the module refuses, with the reason."""


def check_expected_head(head):
    """(seq, hash) from an expected_head option ({seq, hash}, hash optional), or ValueError."""
    if head is None:
        return None, None
    if not isinstance(head, dict) or "seq" not in head:
        raise ValueError("expected_head must be a dictionary with seq (and hash), as chain_verify returns it in head")
    try:
        seq = int(head["seq"])
    except (TypeError, ValueError):
        raise ValueError("expected_head.seq must be a whole number, got %r" % (head["seq"],))
    if seq < 0:
        raise ValueError("expected_head.seq must be 0 or more, got %d" % seq)
    digest = head.get("hash")
    if digest is not None and not _HASH.match(str(digest)):
        raise ValueError("expected_head.hash must be 64 hexadecimal digits (a SHA-256), got %r" % (digest,))
    return seq, (str(digest).lower() if digest is not None else None)


def shape(row, sealed):
    """The module's result from verify_chain()'s row."""
    broken = None
    if not row["ok"]:
        broken = dict(id=row["broken_id"], seq=row["broken_seq"], expected=row["expected"], found=row["found"])
    if row["ok"]:
        first = row["head_seq"] - row["checked"] + 1
        reason = "the chain verifies: %d sealed row(s), positions %d to %d" % (row["checked"], first, row["head_seq"])
        if row["unsealed"]:
            reason += "; %d row(s) not sealed yet" % row["unsealed"]
    else:
        reason = row["reason"]
    return dict(
        ok=bool(row["ok"]),
        checked=row["checked"],
        broken=broken,
        head=dict(seq=row["head_seq"], hash=row["head_hash"]),
        unsealed=row["unsealed"],
        sealed=sealed,
        reason=reason,
    )


def verify(session, schema, expected_head=None, seal=True):
    """Seal (outside check mode, when asked), then verify; returns the module's result."""
    sql = postgres.sql
    try:
        expected_seq, expected_hash = check_expected_head(expected_head)
    except ValueError as exc:
        raise ChainError(str(exc))
    found = session.query(
        HAS_CHAIN, dict(schema=schema, verify=audit_trail.VERIFY_FUNCTION, seal=audit_trail.SEAL_FUNCTION)
    )[0]
    if not found["verifier"] or not found["sealer"]:
        raise ChainError(
            "schema %s has no hash chain (no %s.%s()): turn it on with pgtrail.audit.audit_trail's hash_chain: true"
            % (schema, schema, audit_trail.VERIFY_FUNCTION)
        )
    sealed = 0
    if seal and not session.module.check_mode:
        # Its own transaction: the advisory lock is held only while sealing, not while verifying.
        with session.conn.transaction():
            statement = sql.SQL(audit_trail.SEAL_NOW).format(seal=sql.Identifier(schema, audit_trail.SEAL_FUNCTION))
            sealed = session.query(statement, record=True)[0]["sealed"]
    with session.conn.transaction():
        session.query("SET TRANSACTION READ ONLY")
        statement = sql.SQL(VERIFY).format(function=sql.Identifier(schema, audit_trail.VERIFY_FUNCTION))
        row = session.query(statement, [expected_seq, expected_hash], record=True)[0]
    result = shape(row, sealed)
    result["changed"] = bool(sealed) or bool(seal and session.module.check_mode and row["unsealed"])
    result["executed_queries"] = list(session.executed_queries)
    return result
