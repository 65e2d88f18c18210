# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit_info module's reads: the server's facts and evidence on its main connection, each
database's on a read-only connection of its own; nothing is ever written.

What is read is shaped by the pure functions of ``audit_facts``; :func:`run` is the module's
one call.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.pgtrail.audit.plugins.module_utils import audit_facts, pgconf, postgres
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail import verify as chain_verify
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.names import LOG, REGISTRY, sql_names
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.sql_chain import CHAIN_UNSEALED, V2_ROWS
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_vault import slots as vault_slots
from ansible_collections.pgtrail.audit.plugins.module_utils.audit_facts import (
    FIRST_NORMAL_OID,
    LOG_PRIVILEGES,
    LOG_WRITERS,
    LOGGING_PARAMETERS,
    NO_TRAIL,
    PARAMETER_ACL,
    PARAMETER_ACL_SINCE,
    ROLE_LOGINS,
    SPL,
    backup_needs,
    chain_result,
    closed_databases,
    effective_policy,
    library_listed,
    parameter_grants,
    replication_warnings,
    role_reach_options,
    scope_entries,
    staged_settings,
    switch_off,
    system_entries,
    system_policy,
    trail_coverage,
    unreached_role_settings,
    weakening,
    writers,
)
from ansible_collections.pgtrail.audit.plugins.module_utils.identifiers import render

# What audit_info returns besides postgres.server_facts (a superuser or pg_read_all_settings
# reads the paths; pg_config needs a superuser).
SERVER = """
SELECT current_setting('data_directory') AS data_directory,
       current_setting('config_file') AS config_file,
       current_setting('shared_preload_libraries') AS shared_preload_libraries,
       (SELECT setting FROM pg_catalog.pg_config WHERE name = 'PKGLIBDIR') AS pkglibdir,
       (SELECT default_version FROM pg_catalog.pg_available_extensions WHERE name = 'pgaudit')
         AS pgaudit_available_version,
       ARRAY(SELECT name FROM pg_catalog.pg_settings WHERE pending_restart ORDER BY name)
         AS pending_restart
"""

# The source columns tell the server's own values from the reading session's role and database ones.
PGAUDIT_SETTINGS = """
SELECT name, setting, source, sourcefile, sourceline, boot_val
  FROM pg_catalog.pg_settings WHERE name LIKE 'pgaudit.%' ORDER BY name
"""

# ---------------------------------------------------------------------------------------------
# What is read once per server
# ---------------------------------------------------------------------------------------------

DATABASES = """
SELECT datname FROM pg_catalog.pg_database WHERE datallowconn ORDER BY datname
"""

# Databases no session of the current user can open: never read, and said so. template0 never
# accepts connections by design and is left out.
CLOSED_DATABASES = """
SELECT datname, datallowconn, pg_catalog.has_database_privilege(oid, 'CONNECT') AS can_connect
  FROM pg_catalog.pg_database
 WHERE datname <> 'template0' AND NOT (datallowconn AND pg_catalog.has_database_privilege(oid, 'CONNECT'))
 ORDER BY datname
"""

# The staged configuration: what the files say now (pg_file_settings re-reads them).
FILE_SETTINGS = """
SELECT name, setting, sourcefile, sourceline, error FROM pg_catalog.pg_file_settings ORDER BY seqno
"""

SCOPE_SETTINGS = """
SELECT d.datname, r.rolname, s.setconfig
  FROM pg_catalog.pg_db_role_setting AS s
  LEFT JOIN pg_catalog.pg_database AS d ON d.oid = s.setdatabase
  LEFT JOIN pg_catalog.pg_roles AS r ON r.oid = s.setrole
 ORDER BY d.datname NULLS FIRST, r.rolname NULLS FIRST
"""

RUNNING = """
SELECT name, setting FROM pg_catalog.pg_settings WHERE name = ANY (%(names)s)
"""

SUPERUSERS = "SELECT rolname FROM pg_catalog.pg_roles WHERE rolsuper ORDER BY rolname"

# The roles a session can log in as (the rows of the effective policy).
LOGINS = "SELECT rolname::text AS rolname, rolsuper FROM pg_catalog.pg_roles WHERE rolcanlogin ORDER BY 1"

# Every role each login role reaches through pg_auth_members, and how: ``inherited`` (it uses the
# role's privileges as its own) or ``settable`` (it can SET ROLE to it); {inherit} and {set} are
# the hop's options (audit_facts.role_reach_options).
ROLE_REACH = """
WITH RECURSIVE reach (login, roleid, inherited, settable) AS (
    SELECT r.oid, r.oid, true, true FROM pg_catalog.pg_roles AS r WHERE r.rolcanlogin
    UNION
    SELECT g.login, m.roleid, g.inherited AND {inherit}, g.settable AND {set}
      FROM reach AS g JOIN pg_catalog.pg_auth_members AS m ON m.member = g.roleid
)
SELECT l.rolname::text AS login, t.rolname::text AS role, pg_catalog.bool_or(g.inherited) AS inherited,
       pg_catalog.bool_or(g.settable) AS settable, t.rolsuper AS superuser, t.rolbypassrls AS bypassrls,
       t.rolreplication AS replication
  FROM reach AS g
  JOIN pg_catalog.pg_roles AS l ON l.oid = g.login
  JOIN pg_catalog.pg_roles AS t ON t.oid = g.roleid
 GROUP BY l.rolname, t.rolname, t.rolsuper, t.rolbypassrls, t.rolreplication
 ORDER BY 1, 2
"""
SET_USER = """
SELECT (SELECT default_version FROM pg_catalog.pg_available_extensions WHERE name = 'set_user') AS available
"""

# ---------------------------------------------------------------------------------------------
# What is read in each database
# ---------------------------------------------------------------------------------------------

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

# Logical replication: the publications of the database (with the trail's tables each
# publishes) and its subscriptions (pg_subscription's columns other than the conninfo, which
# only superusers may read), with their workers and error counts.
PUBLICATIONS = """
SELECT p.pubname::text AS name, p.puballtables AS all_tables,
       ARRAY(SELECT t.tablename::text FROM pg_catalog.pg_publication_tables AS t
              WHERE t.pubname = p.pubname AND t.schemaname = %(schema)s ORDER BY 1) AS trail_tables,
       -- the audit vault's feed (docs/vault.md): the log alone, inserts only
       (NOT p.puballtables AND p.pubinsert AND NOT (p.pubupdate OR p.pubdelete OR p.pubtruncate)
        AND ARRAY(SELECT t.schemaname || '.' || t.tablename FROM pg_catalog.pg_publication_tables AS t
                   WHERE t.pubname = p.pubname)::text[] = ARRAY[%(schema)s || '.audit_log']) AS vault_feed
  FROM pg_catalog.pg_publication AS p ORDER BY 1
"""
SUBSCRIPTIONS = """
SELECT s.subname::text AS name, s.subenabled AS enabled, s.subpublications::text[] AS publications,
       pg_catalog.pg_get_userbyid(s.subowner)::text AS owner,
       ARRAY(SELECT w.pid FROM pg_catalog.pg_stat_subscription AS w
              WHERE w.subid = s.oid AND w.pid IS NOT NULL ORDER BY 1) AS worker_pids,
       st.apply_error_count, st.sync_error_count
  FROM pg_catalog.pg_subscription AS s
  LEFT JOIN pg_catalog.pg_stat_subscription_stats AS st ON st.subid = s.oid
 WHERE s.subdbid = (SELECT d.oid FROM pg_catalog.pg_database AS d WHERE d.datname = pg_catalog.current_database())
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
# The trail's log_event() and the login roles other than superusers that may call it.
EVENT_CALLERS = """
SELECT p.oid IS NOT NULL AS present,
       ARRAY(SELECT r.rolname::text FROM pg_catalog.pg_roles AS r
              WHERE p.oid IS NOT NULL AND r.rolcanlogin AND NOT r.rolsuper
                AND pg_catalog.has_function_privilege(r.oid, p.oid, 'EXECUTE') ORDER BY 1) AS callers
  FROM (SELECT NULL) AS one
  LEFT JOIN pg_catalog.pg_proc AS p ON p.pronamespace = %(schema_oid)s AND p.proname = 'log_event'
"""

# ---------------------------------------------------------------------------------------------
# Reading (one server connection, one read-only connection per database)
# ---------------------------------------------------------------------------------------------


def _error_text(exc):
    return str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__


def read_only(session):
    """Make every later transaction of the session read-only: evidence never writes."""
    session.query("SET default_transaction_read_only = on")
    # ...and never waits long for a lock (verify_chain() reads the log).
    session.query("SET lock_timeout = '10s'")


def gather_server(session, base):
    """Server-wide evidence; ``base`` holds what audit_info already read (version, files...)."""
    data_directory = base["data_directory"]
    try:
        file_rows = session.query(FILE_SETTINGS)
        file_error = None
    except postgres.psycopg.Error as exc:  # needs a superuser or pg_read_all_settings
        file_rows, file_error = [], _error_text(exc)
    staged = staged_settings(file_rows, data_directory)

    running_preload = base["shared_preload_libraries"]
    staged_preload = None
    source = dict(file=None, line=None, via="default")
    if file_error is None:
        spl = staged.get(SPL)
        staged_preload = pgconf.ensure_entries(spl["value"]) if spl else []
        if spl:
            source = spl["source"]
    preload = dict(
        running=running_preload,
        staged=staged_preload,
        source=source,
        restart_required=staged_preload is not None and staged_preload != running_preload,
        pgaudit_running=library_listed(running_preload, "pgaudit", base["pkglibdir"]),
        pgaudit_staged=library_listed(staged_preload, "pgaudit", base["pkglibdir"]),
    )
    if file_error:
        preload["error"] = file_error

    scope_rows = session.query(SCOPE_SETTINGS)
    entries = system_entries(staged) + scope_entries(scope_rows)
    system = system_policy(session.query(PGAUDIT_SETTINGS), staged, data_directory)
    system_value = system["pgaudit.log"]["value"]

    running = {r["name"]: r["setting"] for r in session.query(RUNNING, dict(names=list(LOGGING_PARAMETERS)))}
    logging = dict((name, running.get(name)) for name in LOGGING_PARAMETERS)
    logging["staged"] = dict((name, staged[name]["value"]) for name in LOGGING_PARAMETERS if name in staged)
    logging["overrides"] = [
        dict(scope=e["scope"], target=e["target"], name=e["name"], value=e["value"])
        for e in scope_entries(scope_rows, prefix="log_")
    ]

    roles = sorted({e["role"] for e in entries if e["scope"] in ("role", "role_in_database")})
    unreached = unreached_role_settings(entries, session.query(ROLE_LOGINS, dict(roles=roles))) if roles else []

    superusers = [r["rolname"] for r in session.query(SUPERUSERS)]
    if base["server_version_num"] >= PARAMETER_ACL_SINCE:
        grants = parameter_grants(session.query(PARAMETER_ACL))
    else:
        grants = []
    options = role_reach_options(base["server_version_num"])
    sql = postgres.sql
    reach = session.query(sql.SQL(ROLE_REACH).format(inherit=sql.SQL(options["inherit"]), set=sql.SQL(options["set"])))

    return dict(
        preload=preload,
        settings_by_scope=entries,
        system_log=system_value,
        weakening=weakening(entries, system_value),
        unreached_role_settings=unreached,
        closed_databases=closed_databases(session.query(CLOSED_DATABASES)),
        logging=logging,
        superusers=superusers,
        parameter_grants=grants,
        set_user_available=session.scalar(SET_USER),
        system_policy=system,
        logins=session.query(LOGINS),
        role_reach=reach,
    )


def gather_database(session, trail_schema, verify=True):
    """Per-database evidence: extension versions, trail coverage, log lockdown, hash chain.

    With ``verify`` false the chain's verifier is found but not called.
    """
    sql = postgres.sql
    versions = {r["extname"]: r["extversion"] for r in session.query(EXTENSIONS)}
    result = dict(
        pgaudit_version=versions.get("pgaudit"),
        set_user_version=versions.get("set_user"),
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


def read_replication(session, trail_schema):
    """{publications, subscriptions, warnings} of the database."""
    publications = [dict(r) for r in session.query(PUBLICATIONS, dict(schema=trail_schema))]
    for pub in publications:
        pub["trail_tables"] = [render(trail_schema, t) for t in pub["trail_tables"] or []]
    # The vault's feed publishes the log on purpose, forward-only: no warning for it.
    feeds = [pub.pop("vault_feed") for pub in publications]
    subscriptions = [dict(r) for r in session.query(SUBSCRIPTIONS)]
    for sub in subscriptions:
        sub["publications"] = list(sub["publications"] or [])
        sub["worker_pids"] = list(sub["worker_pids"] or [])
    return dict(
        publications=publications,
        subscriptions=subscriptions,
        warnings=replication_warnings(
            [pub for pub, feed in zip(publications, feeds) if not feed], subscriptions, trail_schema
        ),
    )


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
        chain["error"] = _error_text(exc)
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
        chain["error"] = _error_text(exc)
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
        chain["error"] = _error_text(exc)
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


# ---------------------------------------------------------------------------------------------
# The module's run
# ---------------------------------------------------------------------------------------------


def argument_spec():
    """The audit_info module's options (audit_plan reads the server with them too)."""
    spec = postgres.connection_argument_spec()
    spec.update(
        databases=dict(type="list", elements="str"),
        trail_schema=dict(type="str", default="audit"),
        verify_chain=dict(type="bool", default=True),
    )
    return spec


def gather(session):
    """The server facts every caller relies on (the role reads version and recovery state)."""
    server = postgres.server_facts(session)
    row = session.query(SERVER)[0]
    libraries = pgconf.parse_list(row["shared_preload_libraries"])
    settings = {r["name"]: r["setting"] for r in session.query(PGAUDIT_SETTINGS)}
    library = os.path.join(row["pkglibdir"], "pgaudit.so")
    return dict(
        server_version=server["server_version"],
        server_version_num=server["server_version_num"],
        major=server["major"],
        data_directory=row["data_directory"],
        config_file=row["config_file"],
        pkglibdir=row["pkglibdir"],
        in_recovery=server["in_recovery"],
        shared_preload_libraries=libraries,
        pending_restart=list(row["pending_restart"]),
        pgaudit=dict(
            library_file=os.path.exists(library),
            loaded=library_listed(libraries, "pgaudit", row["pkglibdir"]),
            available_version=row["pgaudit_available_version"],
            settings=settings,
        ),
    ), server["database"]


def gather_databases(module, main, current, names, trail_schema, verify):
    """Per-database evidence; one read-only connection per database (the main one for its own)."""
    read, unreachable = {}, {}
    for name in names:
        if name == current:
            session = main
        else:
            conn, error = postgres.try_connect(module, dbname=name, autocommit=True)
            if conn is None:
                unreachable[name] = error
                continue
            session = postgres.Session(module, conn)
            read_only(session)
        try:
            read[name] = gather_database(session, trail_schema, verify)
        except postgres.psycopg.Error as exc:
            unreachable[name] = "PostgreSQL refused a read in database %r: %s" % (name, str(exc).strip())
        finally:
            if session is not main:
                session.close()
    return read, unreachable


def per_database(per_db, key, keep=lambda value: True):
    """{database: its evidence under ``key``}, sorted, of the databases whose value ``keep`` keeps."""
    return dict((db, per_db[db][key]) for db in sorted(per_db) if keep(per_db[db][key]))


def who_is_audited(session, server, names, per_db):
    """{effective_policy, can_switch_off}: what pgaudit applies to every login in every database
    read that accepts connections, and the logins that could switch auditing off."""
    allowed = set(r["datname"] for r in session.query(DATABASES))
    databases = [db for db in names if db in allowed]
    system = server["system_policy"]
    owners = dict((db, per_db[db]["audited_owners"]) for db in sorted(per_db) if per_db[db]["audited_owners"])
    return dict(
        effective_policy=dict(
            system=system,
            databases=databases,
            logins=effective_policy(
                server["logins"], databases, server["settings_by_scope"], system, server["unreached_role_settings"]
            ),
        ),
        can_switch_off=switch_off(server["role_reach"], server["parameter_grants"], owners),
    )


def evidence(module, session, facts, current):
    """``facts`` with the server's and every database's evidence added."""
    params = module.params
    server = gather_server(session, facts)
    if params["databases"] is None:
        names = [r["datname"] for r in session.query(DATABASES)]
    else:
        names = sorted(set(params["databases"]))
    per_db, unreachable = gather_databases(
        module, session, current, names, params["trail_schema"], params["verify_chain"]
    )
    facts["preload"] = server["preload"]
    facts.update(who_is_audited(session, server, names, per_db))
    # The system values, not the reading session's (its role or database may have its own).
    system = server["system_policy"]
    facts["pgaudit"]["settings"] = dict((name, system[name]["value"]) for name in facts["pgaudit"]["settings"])
    facts["pgaudit"].update(
        package=audit_facts.package_of(os.path.join(facts["pkglibdir"], "pgaudit.so"), module.run_command),
        extension_versions=per_database(per_db, "pgaudit_version"),
        settings_by_scope=server["settings_by_scope"],
        system_log=server["system_log"],
    )
    facts.update(
        weakening=server["weakening"],
        unreached_role_settings=server["unreached_role_settings"],
        logging=server["logging"],
        set_user=dict(
            available_version=server["set_user_available"],
            preloaded=library_listed(facts["shared_preload_libraries"], "set_user", facts["pkglibdir"]),
            databases=sorted(db for db in per_db if per_db[db]["set_user_version"]),
        ),
        databases=sorted(per_db),
        unreachable_databases=unreachable,
        closed_databases=server["closed_databases"],
        trail=dict(schema=params["trail_schema"], databases=per_database(per_db, "trail")),
        lockdown=dict(
            superusers=server["superusers"],
            parameter_grants=server["parameter_grants"],
            databases=per_database(per_db, "lockdown", bool),
        ),
        hash_chain=dict(
            enabled=any(per_db[db]["hash_chain"]["enabled"] for db in per_db),
            databases=per_database(per_db, "hash_chain"),
        ),
        # The audit vault's slots (docs/vault.md); a standby has none of its own.
        replication=dict(
            databases=per_database(per_db, "replication"),
            vault_slots=[] if facts["in_recovery"] else vault_slots.read_slots(session),
        ),
        backup=dict(databases=per_database(per_db, "backup", bool)),
        write_rates=dict(databases=per_database(per_db, "write_rates")),
        object_audit=dict(
            role=facts["pgaudit"]["settings"].get("pgaudit.role") or None,
            databases=per_database(per_db, "object_audit", bool),
        ),
        application_events=dict(databases=per_database(per_db, "application_events", bool)),
    )
    for db in sorted(per_db):
        for warning in per_db[db]["replication"]["warnings"]:
            module.warn("Database %s: %s" % (db, warning))
    for warning in vault_slots.slot_warnings(facts["replication"]["vault_slots"]):
        module.warn(warning)
    return facts


def run(module):
    """The audit_info module: every fact, read on read-only connections."""
    session = postgres.open_session(module, autocommit=True)
    try:
        read_only(session)
        facts, current = gather(session)
        facts = evidence(module, session, facts, current)
    except postgres.psycopg.Error as exc:
        module.fail_json(msg="PostgreSQL refused a read: %s" % str(exc).strip())
    finally:
        session.close()
    return dict(facts, changed=False)
