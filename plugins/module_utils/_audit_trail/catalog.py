# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to the collection: not a public API, it may change without notice.
# Do not use it from other collections or standalone plugins/modules.
"""What a run reads: the catalog queries, and the trail's state as plain values (nothing is
changed here, but the locks a run takes first)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgtrail.audit.plugins.module_utils import postgres
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.names import (
    CHAIN_BLOCK,
    CHAIN_HEAD,
    CHAIN_TRIGGER,
    DEFAULT_PARTITION,
    INSERT_ONLY_TRIGGER,
    LOG,
    REGISTRY,
    SKIP_TRIGGER,
    TRAIL_TABLES,
    VERSIONS,
    sql_names,
)
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.plan import (
    month_of_partition,
    spec_from_catalog,
)
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.request import select_from_schemas
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.sql_chain import (
    CHAIN_FUNCTIONS,
    CHAIN_LOCK,
    CHAIN_V2_FUNCTIONS,
    HEAD_EXISTS,
)
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.sql_functions import FUNCTIONS
from ansible_collections.pgtrail.audit.plugins.module_utils.identifiers import render

LOCK = "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('pgtrail.audit.audit_trail')) IS NULL AS locked"

SESSION_FACTS = """
SELECT pg_catalog.date_part('year', pg_catalog.now() AT TIME ZONE 'UTC')::int AS utc_year,
       pg_catalog.date_part('month', pg_catalog.now() AT TIME ZONE 'UTC')::int AS utc_month,
       n.oid AS schema_oid, pg_catalog.pg_get_userbyid(n.nspowner)::text AS schema_owner,
       (SELECT pg_catalog.pg_get_userbyid(c.relowner)::text FROM pg_catalog.pg_class AS c
         WHERE c.relnamespace = n.oid AND c.relname = 'audit_log') AS log_owner,
       (SELECT pg_catalog.pg_has_role(CURRENT_USER, c.relowner, 'MEMBER') FROM pg_catalog.pg_class AS c
         WHERE c.relnamespace = n.oid AND c.relname = 'audit_log') AS can_become_log_owner
  FROM (VALUES (1)) AS one(row_count)
  LEFT JOIN pg_catalog.pg_namespace AS n ON n.nspname = %(schema)s
"""

TRAIL_RELATIONS = """
SELECT c.relname, c.relkind FROM pg_catalog.pg_class AS c
 WHERE c.relnamespace = %(schema_oid)s AND c.relname = ANY (%(names)s)
"""

SCHEMA_VERSIONS = "SELECT coalesce(pg_catalog.array_agg(version), '{{}}') AS versions FROM {versions}"

# The chain's sealing trigger on the log and on its partitions (clones), for a comparison.
CHAIN_TRIGGER_STATE = """
SELECT t.tgrelid = %(log_oid)s AS on_log, t.tgenabled, t.tgdeferrable, t.tginitdeferred, t.tgtype,
       n.nspname AS function_schema, p.proname AS function_name
  FROM pg_catalog.pg_trigger AS t
  JOIN pg_catalog.pg_proc AS p ON p.oid = t.tgfoid
  JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
 WHERE t.tgname = %(name)s
   AND t.tgrelid IN (SELECT %(log_oid)s::pg_catalog.oid
                     UNION ALL SELECT x.relid::pg_catalog.oid FROM pg_catalog.pg_partition_tree(%(log_oid)s) AS x)
"""

# The insert-only trigger (chain v2) on the log, its partitions and chain_block: a row per
# relation, the trigger's columns NULL where it has none.
INSERT_ONLY_STATE = """
SELECT c.relname::text AS relname, t.tgenabled, t.tgtype, fn.nspname AS function_schema, p.proname AS function_name
  FROM pg_catalog.pg_class AS c
  LEFT JOIN pg_catalog.pg_trigger AS t ON t.tgrelid = c.oid AND t.tgname = %(name)s
  LEFT JOIN pg_catalog.pg_proc AS p ON p.oid = t.tgfoid
  LEFT JOIN pg_catalog.pg_namespace AS fn ON fn.oid = p.pronamespace
 WHERE c.relnamespace = %(schema_oid)s
   AND (c.relname = %(block)s OR c.oid = %(log_oid)s
        OR c.oid IN (SELECT x.relid FROM pg_catalog.pg_partition_tree(%(log_oid)s) AS x))
"""

# The skip_applied trigger on the trail's tables (and their partitions' clones).
SKIP_TRIGGERS = """
SELECT c.relname::text AS relname, coalesce(r.relname, c.relname)::text AS root, t.tgparentid <> 0 AS clone,
       t.tgenabled, t.tgtype, n.nspname AS function_schema, p.proname AS function_name
  FROM pg_catalog.pg_trigger AS t
  JOIN pg_catalog.pg_class AS c ON c.oid = t.tgrelid
  LEFT JOIN pg_catalog.pg_class AS r ON c.relispartition AND r.oid = pg_catalog.pg_partition_root(c.oid)
  JOIN pg_catalog.pg_proc AS p ON p.oid = t.tgfoid
  JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
 WHERE t.tgname = %(name)s AND c.relnamespace = %(schema_oid)s
"""

REGISTRY_ROWS = """
SELECT a.relid::pg_catalog.oid AS relid, a.schema_name, a.table_name, a.mode, a.excluded_columns,
       EXISTS (SELECT FROM pg_catalog.pg_class AS c WHERE c.oid = a.relid::pg_catalog.oid) AS present
  FROM {registry} AS a
"""

TRAIL_FUNCTIONS = """
SELECT p.oid, p.proname, p.prosrc, p.prosecdef, p.proconfig, l.lanname, p.provolatile,
       pg_catalog.pg_get_function_arguments(p.oid) AS arguments,
       pg_catalog.pg_get_function_identity_arguments(p.oid) AS identity_arguments,
       pg_catalog.pg_get_function_result(p.oid) AS result,
       p.proacl IS NULL OR EXISTS (SELECT FROM pg_catalog.aclexplode(p.proacl) AS g
                                    WHERE g.grantee = 0 AND g.privilege_type = 'EXECUTE') AS public_execute,
       ARRAY(SELECT r.rolname::text FROM pg_catalog.aclexplode(p.proacl) AS g
               JOIN pg_catalog.pg_roles AS r ON r.oid = g.grantee
              WHERE g.privilege_type = 'EXECUTE' AND g.grantee <> p.proowner ORDER BY 1) AS grantees
  FROM pg_catalog.pg_proc AS p JOIN pg_catalog.pg_language AS l ON l.oid = p.prolang
 WHERE p.pronamespace = %(schema_oid)s AND p.proname = ANY (%(names)s)
"""

# Triggers of the trail (by function or by name), with what a comparison needs. Clones on
# partitions (tgparentid <> 0) follow their parent and are read for their enabled state only.
TRAIL_TRIGGERS = """
SELECT t.tgrelid AS relid, n.nspname AS rel_schema, c.relname AS rel_name, t.tgname, t.tgtype, t.tgenabled,
       t.tgargs, t.tgnargs, t.tgoldtable, t.tgnewtable, t.tgparentid <> 0 AS clone,
       t.tgqual IS NOT NULL OR t.tgconstraint <> 0 OR pg_catalog.array_length(t.tgattr::int2[], 1) > 0 AS unusual,
       fn.nspname AS function_schema, p.proname AS function_name
  FROM pg_catalog.pg_trigger AS t
  JOIN pg_catalog.pg_class AS c ON c.oid = t.tgrelid
  JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_proc AS p ON p.oid = t.tgfoid
  JOIN pg_catalog.pg_namespace AS fn ON fn.oid = p.pronamespace
 WHERE NOT t.tgisinternal
   AND (t.tgname LIKE 'pgtrail\\_audit\\_%%' OR (fn.nspname = %(schema)s AND p.proname = ANY (%(functions)s)))
"""

TRAIL_EVENT_TRIGGERS = """
SELECT e.evtname, e.evtevent, e.evtenabled, e.evttags IS NOT NULL AS tagged,
       n.nspname AS function_schema, p.proname AS function_name
  FROM pg_catalog.pg_event_trigger AS e
  JOIN pg_catalog.pg_proc AS p ON p.oid = e.evtfoid
  JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
 WHERE e.evtname LIKE 'pgtrail\\_audit\\_%%' OR (n.nspname = %(schema)s AND p.proname = 'log_ddl')
"""

# Every relation named in the request, with what validation needs.
RELATIONS = """
SELECT q.schema_name, q.table_name, c.oid AS relid, c.relkind, c.relispartition, c.relpersistence,
       rn.nspname AS root_schema, rc.relname AS root_name,
       EXISTS (SELECT FROM pg_catalog.pg_index AS i WHERE i.indrelid = c.oid AND i.indisprimary) AS has_key,
       ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute AS a
              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum) AS columns
  FROM ROWS FROM (pg_catalog.unnest(%(schemas)s::text[]), pg_catalog.unnest(%(tables)s::text[]))
       AS q(schema_name, table_name)
  LEFT JOIN pg_catalog.pg_namespace AS n ON n.nspname = q.schema_name
  LEFT JOIN pg_catalog.pg_class AS c ON c.relnamespace = n.oid AND c.relname = q.table_name
  LEFT JOIN pg_catalog.pg_class AS rc ON c.relispartition AND rc.oid = pg_catalog.pg_partition_root(c.oid)
  LEFT JOIN pg_catalog.pg_namespace AS rn ON rn.oid = rc.relnamespace
"""

# Descendants of the partitioned tables audited, at every level.
PARTITIONS = """
SELECT p.root, t.relid::pg_catalog.oid AS relid, n.nspname AS rel_schema, c.relname AS rel_name
  FROM pg_catalog.unnest(%(roots)s::oid[]) AS p(root)
 CROSS JOIN LATERAL pg_catalog.pg_partition_tree(p.root) AS t
  JOIN pg_catalog.pg_class AS c ON c.oid = t.relid
  JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
 WHERE t.relid::pg_catalog.oid <> p.root
 ORDER BY p.root, t.level, c.relname
"""

SCHEMA_TABLES = """
SELECT q.schema_name, n.oid IS NOT NULL AS present,
       ARRAY(SELECT c.relname::text FROM pg_catalog.pg_class AS c
              WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'p') AND NOT c.relispartition
                AND c.relpersistence <> 't' ORDER BY c.relname) AS tables
  FROM pg_catalog.unnest(%(schemas)s::text[]) AS q(schema_name)
  LEFT JOIN pg_catalog.pg_namespace AS n ON n.nspname = q.schema_name
"""

ROLES = "SELECT r.rolname::text AS rolname FROM pg_catalog.pg_roles AS r WHERE r.rolname = ANY (%(names)s)"

SCHEMA_USAGE = """
SELECT r.rolname::text AS rolname FROM pg_catalog.pg_namespace AS n
 CROSS JOIN LATERAL pg_catalog.aclexplode(n.nspacl) AS g
  JOIN pg_catalog.pg_roles AS r ON r.oid = g.grantee
 WHERE n.oid = %(schema_oid)s AND g.privilege_type = 'USAGE'
"""

PUBLIC_TABLE_GRANTS = """
SELECT DISTINCT c.relname FROM pg_catalog.pg_class AS c CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) AS g
 WHERE c.relnamespace = %(schema_oid)s AND c.relname = ANY (%(names)s) AND g.grantee = 0
"""

LOG_PARTITIONS = """
SELECT c.relname, pg_catalog.pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT' AS is_default
  FROM pg_catalog.pg_inherits AS i JOIN pg_catalog.pg_class AS c ON c.oid = i.inhrelid
 WHERE i.inhparent = %(log_oid)s
"""

LOG_OID = "SELECT c.oid FROM pg_catalog.pg_class AS c WHERE c.relnamespace = %(schema_oid)s AND c.relname = 'audit_log'"

DEFAULT_PARTITION_MONTHS = """
SELECT DISTINCT pg_catalog.date_part('year', changed_at AT TIME ZONE 'UTC')::int AS year,
       pg_catalog.date_part('month', changed_at AT TIME ZONE 'UTC')::int AS month
  FROM {default_partition} ORDER BY 1, 2
"""

# The actor expression is trusted SQL from the inventory; it is checked here by running it
# (the parameter makes psycopg refuse more than one statement).
CHECK_ACTOR_EXPRESSION = "SELECT ({expression})::text AS actor WHERE %s"


def lock_chain(session, schema):
    """Hold the sealer's lock (the chain head's row) until the end of the transaction."""
    if session.scalar(HEAD_EXISTS, dict(schema=schema, head=CHAIN_HEAD)):
        session.query(postgres.sql.SQL(CHAIN_LOCK).format(head=sql_names(schema)["head"]))


def read_trail(session, schema):
    """The trail's current state in the database (nothing is changed)."""
    server = postgres.server_facts(session)
    facts = session.query(SESSION_FACTS, dict(schema=schema))[0]
    state = dict(
        superuser=server["is_superuser"],
        current_user=server["current_user"],
        server_version_num=server["server_version_num"],
        schema_owner=facts["schema_owner"],
        log_owner=facts["log_owner"],
        can_become_log_owner=bool(facts["can_become_log_owner"]),
        today=(facts["utc_year"], facts["utc_month"]),
        schema_oid=facts["schema_oid"],
        relations={},
        version=0,
        applied=set(),
        chain_trigger=[],
        insert_only=[],
        skip_triggers=[],
        registry={},
        functions={},
        triggers={},
        clones={},
        foreign=[],
        event_triggers={},
        schema_usage=set(),
        public_tables=[],
        partitions=None,
    )
    _read_triggers(session, schema, state)
    _read_event_triggers(session, schema, state)
    if facts["schema_oid"] is not None:
        log_oid = _read_schema(session, schema, state)
        if state["relations"].get(LOG) == "p":
            state["partitions"] = _read_partitions(session, schema, log_oid)
    return state


def _read_triggers(session, schema, state):
    """The triggers of audited tables: the trail's (and their clones) and foreign ones by name."""
    function_names = [f[0] for f in FUNCTIONS]
    encoding = _encoding(session)
    # The sealing trigger on the log runs a chain function: it is not an audited table's trigger.
    for row in session.query(TRAIL_TRIGGERS, dict(schema=schema, functions=function_names)):
        if row["tgname"] == SKIP_TRIGGER:
            continue  # on the trail's own tables: see plan_skip_triggers
        if row["function_schema"] != schema or row["function_name"] not in function_names:
            state["foreign"].append(
                "trigger %s on %s runs %s: another audit trail (or another tool) uses the pgtrail_audit_ names in "
                "this database; only one trail per database is supported"
                % (
                    row["tgname"],
                    render(row["rel_schema"], row["rel_name"]),
                    render(row["function_schema"], row["function_name"]),
                )
            )
            continue
        key = (row["relid"], row["tgname"])
        if row["clone"]:
            state["clones"][key] = dict(relation=(row["rel_schema"], row["rel_name"]), enabled=row["tgenabled"])
        else:
            state["triggers"][key] = spec_from_catalog(row, encoding)


def _read_event_triggers(session, schema, state):
    for row in session.query(TRAIL_EVENT_TRIGGERS, dict(schema=schema)):
        if row["function_schema"] != schema:
            state["foreign"].append(
                "event trigger %s runs %s: another audit trail uses this database (schema %s); only one trail per "
                "database is supported"
                % (row["evtname"], render(row["function_schema"], row["function_name"]), row["function_schema"])
            )
            continue
        state["event_triggers"][row["evtname"]] = row


def _read_schema(session, schema, state):
    """What the trail's schema holds: tables, versions, registry, functions, grants; returns the
    log's oid (None without a log)."""
    sql = postgres.sql
    names = sql_names(schema)
    oid = dict(schema_oid=state["schema_oid"])
    state["relations"] = {
        r["relname"]: r["relkind"] for r in session.query(TRAIL_RELATIONS, dict(oid, names=list(TRAIL_TABLES)))
    }
    if VERSIONS in state["relations"]:
        state["applied"] = set(session.scalar(sql.SQL(SCHEMA_VERSIONS).format(versions=names["versions"])) or [])
        state["version"] = max(state["applied"] or [0])
    if REGISTRY in state["relations"]:
        for row in session.query(sql.SQL(REGISTRY_ROWS).format(registry=names["registry"])):
            state["registry"][row["relid"]] = row
    function_names = [f[0] for f in FUNCTIONS + CHAIN_FUNCTIONS + CHAIN_V2_FUNCTIONS]
    for row in session.query(TRAIL_FUNCTIONS, dict(oid, names=function_names)):
        state["functions"].setdefault(row["proname"], []).append(row)
    state["skip_triggers"] = session.query(SKIP_TRIGGERS, dict(oid, name=SKIP_TRIGGER))
    state["schema_usage"] = {r["rolname"] for r in session.query(SCHEMA_USAGE, oid)}
    state["public_tables"] = sorted(
        r["relname"] for r in session.query(PUBLIC_TABLE_GRANTS, dict(oid, names=list(TRAIL_TABLES)))
    )
    log_oid = session.scalar(LOG_OID, oid) if LOG in state["relations"] else None
    if log_oid is not None:
        state["chain_trigger"] = session.query(CHAIN_TRIGGER_STATE, dict(log_oid=log_oid, name=CHAIN_TRIGGER))
        state["insert_only"] = session.query(
            INSERT_ONLY_STATE, dict(oid, log_oid=log_oid, name=INSERT_ONLY_TRIGGER, block=CHAIN_BLOCK)
        )
    return log_oid


def _read_partitions(session, schema, log_oid):
    """{existing: months, has_default, default_months} of a partitioned log."""
    existing, has_default = set(), False
    for row in session.query(LOG_PARTITIONS, dict(log_oid=log_oid)):
        if row["is_default"]:
            has_default = row["relname"] == DEFAULT_PARTITION
        month = month_of_partition(row["relname"])
        if month:
            existing.add(month)
    default_months = []
    if has_default:
        statement = postgres.sql.SQL(DEFAULT_PARTITION_MONTHS).format(
            default_partition=sql_names(schema)["default_partition"]
        )
        default_months = [(r["year"], r["month"]) for r in session.query(statement)]
    return dict(existing=existing, has_default=has_default, default_months=default_months)


def _encoding(session):
    try:
        return session.conn.info.encoding
    except Exception:  # pragma: no cover - older psycopg
        return "utf-8"


def read_selection(session, rules, trail_schema):
    """The tables the schema rules choose: ({(schema, table): given}, problems)."""
    problems = []
    if rules:
        schemas = sorted({rule[1] for rule in rules})
        found = {
            r["schema_name"]: (list(r["tables"]) if r["present"] else None)
            for r in session.query(SCHEMA_TABLES, dict(schemas=schemas))
        }
        chosen, rule_problems = select_from_schemas(rules, found, trail_schema)
        problems.extend(rule_problems)
    else:
        chosen = {}
    return chosen, problems


def describe_relations(session, keys):
    """{(schema, table): catalog row} for the given keys."""
    if not keys:
        return {}
    rows = session.query(RELATIONS, dict(schemas=[k[0] for k in keys], tables=[k[1] for k in keys]))
    return {(r["schema_name"], r["table_name"]): r for r in rows}


def partitions_of(session, roots):
    result = {}
    if not roots:
        return result
    for row in session.query(PARTITIONS, dict(roots=list(roots))):
        result.setdefault(row["root"], []).append((row["relid"], row["rel_schema"], row["rel_name"]))
    return result
