# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to the collection: not a public API, it may change without notice.
# Do not use it from other collections or standalone plugins/modules.
"""What audit_info reads in each database on a read-only connection of its own: the extensions,
the trail's coverage, the log's lockdown, what a backup of the trail needs, who may call
log_event(); with the chain (chain.py), replication (replication.py) and what the report's
coverage and cost sections read (coverage.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgtrail.audit.plugins.module_utils import postgres
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_info.chain import read_chain
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_info.coverage import (
    read_object_audit,
    read_write_rates,
)
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_info.replication import read_replication
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.names import LOG, REGISTRY
from ansible_collections.pgtrail.audit.plugins.module_utils.audit_facts import (
    FIRST_NORMAL_OID,
    LOG_PRIVILEGES,
    LOG_WRITERS,
    NO_TRAIL,
    backup_needs,
    trail_coverage,
    writers,
)
from ansible_collections.pgtrail.audit.plugins.module_utils.identifiers import render

EXTENSIONS = """
SELECT extname, extversion FROM pg_catalog.pg_extension WHERE extname IN ('pgaudit', 'set_user')
"""

TRAIL_OBJECTS = """
SELECT n.oid AS schema_oid,
       (SELECT c.oid FROM pg_catalog.pg_class AS c
         WHERE c.relnamespace = n.oid AND c.relname = %(log)s AND c.relkind IN ('r', 'p')) AS log_oid,
       (SELECT c.oid FROM pg_catalog.pg_class AS c
         WHERE c.relnamespace = n.oid AND c.relname = %(registry)s AND c.relkind IN ('r', 'p')) AS registry_oid
  FROM pg_catalog.pg_namespace AS n WHERE n.nspname = %(schema)s
"""

# Every column of the registry, whatever the trail's version calls them.
REGISTRY_ROWS = "SELECT pg_catalog.to_jsonb(a) AS entry FROM {registry} AS a"

# The trail's triggers (by their fixed name prefix), with the audited table a partition's
# trigger belongs to.
TRAIL_TRIGGERS = """
SELECT n.nspname AS rel_schema, c.relname AS rel_name, t.tgname, t.tgenabled::text AS enabled,
       rn.nspname AS root_schema, rc.relname AS root_name
  FROM pg_catalog.pg_trigger AS t
  JOIN pg_catalog.pg_class AS c ON c.oid = t.tgrelid
  JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_class AS rc ON rc.oid = CASE WHEN c.relispartition
                                                   THEN pg_catalog.pg_partition_root(c.oid) ELSE c.oid END
  JOIN pg_catalog.pg_namespace AS rn ON rn.oid = rc.relnamespace
 WHERE NOT t.tgisinternal AND t.tgname LIKE 'pgtrail\\_audit\\_%%'
 ORDER BY 1, 2, 3
"""

EVENT_TRIGGERS = """
SELECT evtname, evtenabled::text AS enabled FROM pg_catalog.pg_event_trigger
 WHERE evtname LIKE 'pgtrail\\_audit\\_%%' ORDER BY 1
"""

# Tables (not partitions, not temporary) of the given schemas.
SCHEMA_TABLES = """
SELECT n.nspname AS schema_name, c.relname AS table_name
  FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
 WHERE n.nspname = ANY (%(schemas)s) AND c.relkind IN ('r', 'p') AND NOT c.relispartition
   AND c.relpersistence <> 't'
 ORDER BY 1, 2
"""

# The owners of the audited tables (they could drop or disable the trail's triggers).
AUDITED_OWNERS = """
SELECT a.schema_name, a.table_name, pg_catalog.pg_get_userbyid(c.relowner)::text AS owner
  FROM ROWS FROM (pg_catalog.unnest(%(schemas)s::text[]), pg_catalog.unnest(%(tables)s::text[]))
       AS a(schema_name, table_name)
  JOIN pg_catalog.pg_namespace AS n ON n.nspname = a.schema_name
  JOIN pg_catalog.pg_class AS c ON c.relnamespace = n.oid AND c.relname = a.table_name
 ORDER BY 1, 2
"""

LOG_OWNER = """
SELECT r.rolname AS owner FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_roles AS r ON r.oid = c.relowner
 WHERE c.oid = %(log_oid)s
"""

# PostgreSQL 17 and later: roles other than superusers and the owner that hold MAINTAIN on the log
# (pg_maintain's members) and USAGE on its schema can LOCK it, and so hold off the sealer.
SERVER_VERSION_NUM = "SELECT pg_catalog.current_setting('server_version_num') AS version"
LOG_LOCKERS = """
SELECT r.rolname::text AS role
  FROM pg_catalog.pg_roles AS r JOIN pg_catalog.pg_class AS c ON c.oid = %(log_oid)s
 WHERE NOT r.rolsuper AND r.oid <> c.relowner AND r.oid::pg_catalog.int8 >= %(first_oid)s
   AND pg_catalog.has_table_privilege(r.oid, c.oid, 'MAINTAIN')
   AND pg_catalog.has_schema_privilege(r.oid, c.relnamespace, 'USAGE')
 ORDER BY 1
"""

# What pg_dump needs to dump the trail: USAGE on its schema and SELECT on each of its tables,
# partitions and sequences; and the roles (not superusers) that can log in and hold all of it
# (pg_read_all_data gives it too).
BACKUP_OBJECTS = """
SELECT c.relname::text AS name, c.relkind::text AS kind FROM pg_catalog.pg_class AS c
 WHERE c.relnamespace = %(schema_oid)s AND c.relkind IN ('r', 'p', 'S') ORDER BY 1
"""
BACKUP_ROLES = """
SELECT r.rolname::text AS rolname FROM pg_catalog.pg_roles AS r
 WHERE r.rolcanlogin AND NOT r.rolsuper
   AND pg_catalog.has_schema_privilege(r.oid, %(schema_oid)s, 'USAGE')
   AND NOT EXISTS (SELECT FROM pg_catalog.pg_class AS c
                    WHERE c.relnamespace = %(schema_oid)s AND c.relkind IN ('r', 'p', 'S')
                      AND NOT pg_catalog.has_table_privilege(r.oid, c.oid, 'SELECT'))
 ORDER BY 1
"""

# The trail's log_event() and the login roles other than superusers that may call it.
EVENT_CALLERS = """
SELECT p.oid IS NOT NULL AS present,
       ARRAY(SELECT r.rolname::text FROM pg_catalog.pg_roles AS r
              WHERE p.oid IS NOT NULL AND r.rolcanlogin AND NOT r.rolsuper
                AND pg_catalog.has_function_privilege(r.oid, p.oid, 'EXECUTE') ORDER BY 1) AS callers
  FROM (SELECT NULL) AS one
  LEFT JOIN pg_catalog.pg_proc AS p ON p.pronamespace = %(schema_oid)s AND p.proname = 'log_event'
"""


def gather_database(session, trail_schema, verify=True, evidence=True):
    """Per-database evidence: extension versions, trail coverage, log lockdown, hash chain.

    With ``verify`` false the chain's verifier is found but not called; with ``evidence`` false
    only the extension versions are read (``{pgaudit_version, set_user_version}``).
    """
    sql = postgres.sql
    versions = {r["extname"]: r["extversion"] for r in session.query(EXTENSIONS)}
    result = dict(pgaudit_version=versions.get("pgaudit"), set_user_version=versions.get("set_user"))
    if not evidence:
        return result
    result.update(
        trail=dict(status=NO_TRAIL),
        lockdown=None,
        hash_chain=dict(enabled=False),
        replication=read_replication(session, trail_schema),
        backup=None,
        audited_owners=[],
        write_rates=read_write_rates(session, trail_schema),
        object_audit=read_object_audit(session),
        application_events=None,
    )
    objects = session.query(TRAIL_OBJECTS, dict(schema=trail_schema, log=LOG, registry=REGISTRY))
    objects = objects[0] if objects else {}
    log_oid = objects.get("log_oid")
    if log_oid is not None:
        owner = session.scalar(LOG_OWNER, dict(log_oid=log_oid))
        rows = session.query(
            LOG_WRITERS, dict(log_oid=log_oid, privileges=list(LOG_PRIVILEGES), first_oid=FIRST_NORMAL_OID)
        )
        result["lockdown"] = dict(log_table=render(trail_schema, LOG), owner=owner, writers=writers(rows))
        if int(session.scalar(SERVER_VERSION_NUM)) >= 170000:
            result["lockdown"]["lockers"] = [
                r["role"] for r in session.query(LOG_LOCKERS, dict(log_oid=log_oid, first_oid=FIRST_NORMAL_OID))
            ]
        result["hash_chain"] = read_chain(session, trail_schema, objects["schema_oid"], log_oid, verify)
        oid = dict(schema_oid=objects["schema_oid"])
        result["backup"] = dict(
            needs=backup_needs(trail_schema, session.query(BACKUP_OBJECTS, oid)),
            roles=[r["rolname"] for r in session.query(BACKUP_ROLES, oid)],
        )
        events = session.query(EVENT_CALLERS, oid)[0]
        if events["present"]:
            result["application_events"] = dict(
                function=render(trail_schema, "log_event"), callers=list(events["callers"] or [])
            )
    if objects.get("registry_oid") is None or log_oid is None:
        return result

    registry = [
        r["entry"]
        for r in session.query(sql.SQL(REGISTRY_ROWS).format(registry=sql.Identifier(trail_schema, REGISTRY)))
    ]
    triggers = session.query(TRAIL_TRIGGERS)
    schemas = sorted({e.get("schema_name") for e in registry if e.get("schema_name")})
    tables = [(r["schema_name"], r["table_name"]) for r in session.query(SCHEMA_TABLES, dict(schemas=schemas))]
    events = {r["evtname"]: r["enabled"] for r in session.query(EVENT_TRIGGERS)}
    result["trail"] = trail_coverage(registry, triggers, tables, events, trail_schema)
    named = [e for e in registry if e.get("schema_name") and e.get("table_name")]
    result["audited_owners"] = [
        dict(table=render(r["schema_name"], r["table_name"]), owner=r["owner"])
        for r in session.query(
            AUDITED_OWNERS,
            dict(schemas=[e["schema_name"] for e in named], tables=[e["table_name"] for e in named]),
        )
    ]
    return result
