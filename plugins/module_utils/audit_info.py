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
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.names import LOG, REGISTRY
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
    library_listed,
    parameter_grants,
    replication_warnings,
    scope_entries,
    staged_settings,
    system_entries,
    system_log_value,
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

PGAUDIT_SETTINGS = """
SELECT name, setting FROM pg_catalog.pg_settings WHERE name LIKE 'pgaudit.%' ORDER BY name
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
                  AND p.pronargs = p.pronargdefaults) AS verifier
"""

VERIFY_CHAIN = "SELECT * FROM {function}()"

# Logical replication: the publications of the database (with the trail's tables each
# publishes) and its subscriptions (pg_subscription's columns other than the conninfo, which
# only superusers may read), with their workers and error counts.
PUBLICATIONS = """
SELECT p.pubname::text AS name, p.puballtables AS all_tables,
       ARRAY(SELECT t.tablename::text FROM pg_catalog.pg_publication_tables AS t
              WHERE t.pubname = p.pubname AND t.schemaname = %(schema)s ORDER BY 1) AS trail_tables
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
    system_value = system_log_value(base["pgaudit"]["settings"], staged)

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
        result["hash_chain"] = read_chain(session, trail_schema, objects["schema_oid"], log_oid, verify)
        oid = dict(schema_oid=objects["schema_oid"])
        result["backup"] = dict(
            needs=backup_needs(trail_schema, session.query(BACKUP_OBJECTS, oid)),
            roles=[r["rolname"] for r in session.query(BACKUP_ROLES, oid)],
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
    return result


def read_replication(session, trail_schema):
    """{publications, subscriptions, warnings} of the database."""
    publications = [dict(r) for r in session.query(PUBLICATIONS, dict(schema=trail_schema))]
    for pub in publications:
        pub["trail_tables"] = [render(trail_schema, t) for t in pub["trail_tables"] or []]
    subscriptions = [dict(r) for r in session.query(SUBSCRIPTIONS)]
    for sub in subscriptions:
        sub["publications"] = list(sub["publications"] or [])
        sub["worker_pids"] = list(sub["worker_pids"] or [])
    return dict(
        publications=publications,
        subscriptions=subscriptions,
        warnings=replication_warnings(publications, subscriptions, trail_schema),
    )


def read_chain(session, trail_schema, schema_oid, log_oid, verify=True):
    """{enabled, columns, verifier} and, when the verifier exists and ``verify``, its result."""
    sql = postgres.sql
    found = session.query(CHAIN_OBJECTS, dict(log_oid=log_oid, schema_oid=schema_oid))[0]
    columns = list(found["columns"] or [])
    chain = dict(enabled=bool(columns) or found["verifier"], columns=columns, verifier=found["verifier"])
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
        replication=dict(databases=per_database(per_db, "replication")),
        backup=dict(databases=per_database(per_db, "backup", bool)),
    )
    for db in sorted(per_db):
        for warning in per_db[db]["replication"]["warnings"]:
            module.warn("Database %s: %s" % (db, warning))
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
