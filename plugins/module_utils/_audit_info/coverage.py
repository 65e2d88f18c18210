# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to the collection: not a public API, it may change without notice.
# Do not use it from other collections or standalone plugins/modules.
"""What the report's coverage and cost sections read in each database: the writes per table and
the period they cover, and what object auditing logs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgtrail.audit.plugins.module_utils.identifiers import render

# What the report's coverage and cost sections read in each database (issue 16 sections 2 and 5).
# Writes per table since the statistics were last reset (partitions counted in their root
# table; the trail's own tables left out), and the period they cover: the database's
# stats_reset, else the server's start (statistics kept across a clean restart may be older).
WRITE_COUNTS = """
SELECT rn.nspname AS schema_name, rc.relname AS table_name,
       sum(s.n_tup_ins)::bigint AS inserts, sum(s.n_tup_upd)::bigint AS updates,
       sum(s.n_tup_del)::bigint AS deletes
  FROM pg_catalog.pg_stat_user_tables AS s
  JOIN pg_catalog.pg_class AS c ON c.oid = s.relid
  JOIN pg_catalog.pg_class AS rc ON rc.oid = CASE WHEN c.relispartition
                                                   THEN pg_catalog.pg_partition_root(c.oid) ELSE c.oid END
  JOIN pg_catalog.pg_namespace AS rn ON rn.oid = rc.relnamespace
 WHERE rn.nspname <> %(schema)s
 GROUP BY 1, 2 ORDER BY 1, 2
"""
STATS_PERIOD = """
SELECT d.stats_reset IS NOT NULL AS reset,
       pg_catalog.to_char(COALESCE(d.stats_reset, pg_catalog.pg_postmaster_start_time()) AT TIME ZONE 'UTC',
                          'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS since,
       EXTRACT(EPOCH FROM pg_catalog.now() - COALESCE(d.stats_reset, pg_catalog.pg_postmaster_start_time()))::float8
         AS seconds
  FROM pg_catalog.pg_stat_database AS d WHERE d.datname = pg_catalog.current_database()
"""
# The tables (and columns) pgaudit.role holds SELECT, INSERT, UPDATE or DELETE on: what object
# auditing logs in this database.
OBJECT_AUDIT = """
SELECT n.nspname AS schema_name, c.relname AS table_name,
       ARRAY(SELECT DISTINCT g.privilege_type::text
               FROM (SELECT (pg_catalog.aclexplode(c.relacl)).*
                     UNION ALL
                     SELECT (pg_catalog.aclexplode(a.attacl)).* FROM pg_catalog.pg_attribute AS a
                      WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS g
              WHERE g.grantee = r.oid AND g.privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE')
              ORDER BY 1) AS privileges
  FROM pg_catalog.pg_roles AS r, pg_catalog.pg_class AS c
  JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
 WHERE r.rolname = pg_catalog.current_setting('pgaudit.role', true) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
 ORDER BY 1, 2
"""


def read_write_rates(session, trail_schema):
    """{reset, since, seconds, tables: [{table, inserts, updates, deletes}]} of the database."""
    period = session.query(STATS_PERIOD)[0]
    tables = [
        dict(table=render(r["schema_name"], r["table_name"]), inserts=r["inserts"], updates=r["updates"],
             deletes=r["deletes"])
        for r in session.query(WRITE_COUNTS, dict(schema=trail_schema))
    ]  # fmt: skip
    return dict(reset=period["reset"], since=period["since"], seconds=period["seconds"], tables=tables)


def read_object_audit(session):
    """[{table, privileges}] that pgaudit.role audits in the database (empty when it is unset)."""
    return [
        dict(table=render(r["schema_name"], r["table_name"]), privileges=list(r["privileges"]))
        for r in session.query(OBJECT_AUDIT)
        if r["privileges"]
    ]
