# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to the collection: not a public API, it may change without notice.
# Do not use it from other collections or standalone plugins/modules.
"""What audit_info reads once per server on its main connection: the server's files, the
preload list, pgaudit's settings at every scope, the logging parameters, the roles and what
they reach."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.pgtrail.audit.plugins.module_utils import pgconf, postgres
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_info.session import error_text
from ansible_collections.pgtrail.audit.plugins.module_utils.audit_facts import (
    LOGGING_PARAMETERS,
    PARAMETER_ACL,
    PARAMETER_ACL_SINCE,
    ROLE_LOGINS,
    SPL,
    closed_databases,
    library_listed,
    parameter_grants,
    role_reach_options,
    scope_entries,
    staged_settings,
    system_entries,
    system_policy,
    unreached_role_settings,
    weakening,
)

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


def gather_server(session, base):
    """Server-wide evidence; ``base`` holds what audit_info already read (version, files...)."""
    data_directory = base["data_directory"]
    try:
        file_rows = session.query(FILE_SETTINGS)
        file_error = None
    except postgres.psycopg.Error as exc:  # needs a superuser or pg_read_all_settings
        file_rows, file_error = [], error_text(exc)
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
