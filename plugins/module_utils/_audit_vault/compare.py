# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to the collection: not a public API, it may change without notice.
# Do not use it from other collections or standalone plugins/modules.
"""A source's log against the vault's copy, by id, read-only on both ends (the vault_compare
module's one call, :func:`run_compare`)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgtrail.audit.plugins.module_utils import postgres
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_vault.common import (
    COLUMNS,
    LOG,
    RECEIVED,
    SAME_TEXT,
    conninfo,
    ident,
)
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_vault.plan import compare_streams, describe_compare
from ansible_collections.pgtrail.audit.plugins.module_utils.postgres import psycopg, sql


def _hashes(conn, schema, columns):
    """(id, md5 of the row's text) of every row of the log, in id order, streamed."""
    statement = sql.SQL("SELECT l.id, pg_catalog.md5(ROW({})::text) FROM {} AS l ORDER BY l.id").format(
        sql.SQL(", ").join(sql.SQL("l.{}").format(ident(c)) for c in columns), ident(schema, LOG)
    )
    with conn.cursor(name="pgtrail_vault_compare") as cur:
        cur.itersize = 10000
        cur.execute(statement)
        for row in cur:
            yield row[0], row[1]


def run_compare(module):
    """The vault_compare module's one call: read-only on both ends."""
    params = module.params
    kwargs = postgres.connection_kwargs(params, params["database"])
    kwargs["options"] = SAME_TEXT
    try:
        vault = psycopg.connect(**kwargs)
    except psycopg.Error as exc:
        module.fail_json(
            msg="Unable to connect to the vault's %s: %s" % (postgres.describe_target(kwargs), str(exc).strip())
        )
    try:
        source = psycopg.connect(conninfo(params), options=SAME_TEXT, connect_timeout=params["connect_timeout"])
    except psycopg.Error as exc:
        vault.close()
        module.fail_json(
            msg="Unable to connect to the source database %s: %s" % (params["source_database"], str(exc).strip())
        )
    try:
        for conn in (vault, source):
            conn.read_only = True
        columns = []
        with vault.cursor() as cur:
            cur.execute(COLUMNS, [sql.Identifier(params["schema"], LOG).as_string(vault)])
            vault_columns = [r[0] for r in cur.fetchall()]
        with source.cursor() as cur:
            cur.execute(COLUMNS, [sql.Identifier(params["schema"], LOG).as_string(source)])
            source_columns = set(r[0] for r in cur.fetchall())
        columns = [c for c in vault_columns if c in source_columns and c != RECEIVED]
        result = compare_streams(
            _hashes(vault, params["schema"], columns), _hashes(source, params["schema"], columns), params["limit"]
        )
    except psycopg.Error as exc:
        module.fail_json(
            msg="Comparing the source database %s with the vault failed: %s"
            % (params["source_database"], str(exc).strip())
        )
    finally:
        vault.close()
        source.close()
    counts = result["counts"]
    result["ok"] = not (counts["missing_on_source"] or counts["altered_on_source"] or counts["duplicated_in_vault"])
    result["reason"] = describe_compare(result)
    result["columns"] = columns
    return dict(result, changed=False)
