# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to the collection: not a public API, it may change without notice.
# Do not use it from other collections or standalone plugins/modules.
"""The trail's hash chain in a database: which version, and (when asked) whether it verifies,
read-only."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgtrail.audit.plugins.module_utils import postgres
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_info.session import error_text
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail import verify as chain_verify
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.names import sql_names
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.sql_chain import CHAIN_UNSEALED, V2_ROWS
from ansible_collections.pgtrail.audit.plugins.module_utils.audit_facts import chain_result
from ansible_collections.pgtrail.audit.plugins.module_utils.identifiers import render

CHAIN_OBJECTS = """
SELECT ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute AS a
              WHERE a.attrelid = %(log_oid)s AND a.attnum > 0 AND NOT a.attisdropped
                AND a.attname IN ('prev_hash', 'row_hash') ORDER BY 1) AS columns,
       EXISTS (SELECT FROM pg_catalog.pg_proc AS p
                WHERE p.pronamespace = %(schema_oid)s AND p.proname = 'verify_chain'
                  AND p.pronargs = p.pronargdefaults) AS verifier,
       EXISTS (SELECT FROM pg_catalog.pg_class AS c
                WHERE c.relnamespace = %(schema_oid)s AND c.relname = 'chain_block') AS blocks
"""

VERIFY_CHAIN = "SELECT * FROM {function}()"


def read_chain(session, trail_schema, schema_oid, log_oid, verify=True):
    """{enabled, columns, verifier} and, when the verifier exists and ``verify``, its result; for
    chain v2 also the unsealed rows, the age of the oldest, and what to do after a restore."""
    sql = postgres.sql
    found = session.query(CHAIN_OBJECTS, dict(log_oid=log_oid, schema_oid=schema_oid))[0]
    columns = list(found["columns"] or [])
    chain = dict(enabled=bool(columns) or found["verifier"] or found["blocks"], columns=columns)
    chain["verifier"] = found["verifier"] or found["blocks"]
    if found["blocks"]:
        return _read_chain_v2(session, trail_schema, bool(columns), verify, chain)
    if not found["verifier"] or not verify:
        return chain
    statement = sql.SQL(VERIFY_CHAIN).format(function=sql.Identifier(trail_schema, "verify_chain"))
    try:
        rows = session.query(statement)
    except postgres.psycopg.Error as exc:
        chain["error"] = error_text(exc)
        return chain
    chain["verify"] = chain_result(rows[0] if rows else None)
    return chain


def _read_chain_v2(session, trail_schema, v1_rows, verify, chain):
    """Chain v2: the sealer's probe, then (``verify``) the module's own check, read-only."""
    sql = postgres.sql
    names = sql_names(trail_schema)
    chain["version"] = 2
    try:
        probe = session.query(
            sql.SQL(CHAIN_UNSEALED).format(block=names["block"], log=names["log"], v2_rows=sql.SQL(V2_ROWS[v1_rows]))
        )
    except postgres.psycopg.Error as exc:
        chain["error"] = error_text(exc)
        return chain
    probe = probe[0] if probe else dict(unsealed=0, oldest_unsealed_age=None, last_block=None, restored=False)
    chain.update(unsealed=probe["unsealed"], oldest_unsealed_age=probe["oldest_unsealed_age"])
    if probe["restored"]:
        chain["warning"] = (
            "this cluster's transaction ids are below those of the chain's last block %s: the database was restored "
            "into another cluster and %s() refuses to seal; the chain up to that block still verifies (see "
            'docs/chain-v2.md, "Dump and restore into another cluster")'
            % (probe["last_block"], render(trail_schema, "seal"))
        )
    if not verify:
        return chain
    try:
        result = chain_verify.check(session, trail_schema, v1_rows)
    except postgres.psycopg.Error as exc:
        chain["error"] = error_text(exc)
        return chain
    broken = result["broken"] or {}
    chain["verify"] = chain_result(
        dict(
            ok=result["ok"],
            checked=result["checked"],
            broken_id=broken.get("id"),
            position=broken.get("position"),
            reason=result["reason"],
            head_size=result["head"]["size"],
            head_root=result["head"]["root"],
            origin=result["head"]["origin"],
        )
    )
    return chain
