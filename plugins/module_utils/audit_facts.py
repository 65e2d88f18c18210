# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The evidence an auditor asks for, shaped from what the catalog returns (pure; unit-tested).

module_utils/audit_info.py reads the server and each database; the functions below shape what
it reads: where each pgaudit setting comes from, which
database or role values weaken the system classes, how far the audit trail covers its schemas,
who could rewrite the log, and what the hash chain's verifier says.

Everything here is defensive about the audit trail and the hash chain, which other modules
create: a database without the trail's schema or registry is reported as ``no trail``, a log
without ``prev_hash``/``row_hash`` and without ``verify_chain()`` as ``enabled: false``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.pgtrail.audit.plugins.module_utils import pgaudit_settings as ps
from ansible_collections.pgtrail.audit.plugins.module_utils import pgconf
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.names import (
    LOG,
    ROW_TRIGGER,
    STATEMENT_TRIGGERS,
    TRUNCATE_TRIGGER,
)
from ansible_collections.pgtrail.audit.plugins.module_utils.identifiers import render

SPL = "shared_preload_libraries"
AUTO_CONF = "postgresql.auto.conf"
NO_TRAIL = "no trail"
PRESENT = "present"
# The columns verify_chain() returns, in order; any of them may be missing.
CHAIN_COLUMNS = ("ok", "checked", "broken_id", "expected", "found", "head_id", "head_hash")
# Server parameters the compliance checks read (CIS 3.1.x and the STIG's log format).
LOGGING_PARAMETERS = (
    "log_connections",
    "log_destination",
    "log_disconnections",
    "log_error_verbosity",
    "log_hostname",
    "log_line_prefix",
    "log_min_duration_statement",
    "log_min_error_statement",
    "log_min_messages",
    "log_statement",
    "log_timezone",
    "logging_collector",
)
# Privileges that let a role change the log rather than add to it; INSERT is reported apart.
LOG_PRIVILEGES = ("INSERT", "UPDATE", "DELETE", "TRUNCATE")
# First oid of objects made after initdb: roles below it are PostgreSQL's predefined roles.
FIRST_NORMAL_OID = 16384
PARAMETER_ACL_SINCE = 150000
VIA = {"database": "ALTER DATABASE", "role": "ALTER ROLE", "role_in_database": "ALTER ROLE IN DATABASE"}

# SQL other modules share (pgaudit_settings, audit_lockdown).

# Whether each named role can log in, and its login members, direct or through other roles:
# pgaudit's role settings reach only sessions of the role itself (they are not inherited).
ROLE_LOGINS = """
WITH RECURSIVE member_of (granted, member) AS (
    SELECT m.roleid, m.member FROM pg_catalog.pg_auth_members AS m
    UNION
    SELECT g.granted, m.member FROM member_of AS g JOIN pg_catalog.pg_auth_members AS m ON m.roleid = g.member
)
SELECT r.rolname, r.rolcanlogin,
       ARRAY(SELECT l.rolname::text FROM member_of AS g JOIN pg_catalog.pg_roles AS l ON l.oid = g.member
              WHERE g.granted = r.oid AND l.rolcanlogin ORDER BY 1) AS login_members
  FROM pg_catalog.pg_roles AS r
 WHERE r.rolname = ANY (%(roles)s)
"""

# GRANT SET / ALTER SYSTEM ON PARAMETER pgaudit.* (PostgreSQL 15+), PUBLIC as grantee 0.
PARAMETER_ACL = """
SELECT p.parname, CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE r.rolname END AS grantee,
       coalesce(r.rolsuper, false) AS superuser, g.privilege_type
  FROM pg_catalog.pg_parameter_acl AS p
 CROSS JOIN LATERAL pg_catalog.aclexplode(p.paracl) AS g
  LEFT JOIN pg_catalog.pg_roles AS r ON r.oid = g.grantee
 WHERE p.parname LIKE 'pgaudit.%%'
 ORDER BY 1, 2, 4
"""

# Roles other than superusers, the owner and PostgreSQL's predefined roles that hold a privilege
# on the log, directly, through PUBLIC or through membership (has_table_privilege sees all).
LOG_WRITERS = """
SELECT r.rolname AS grantee, p.privilege
  FROM pg_catalog.pg_roles AS r
 CROSS JOIN pg_catalog.unnest(%(privileges)s::text[]) AS p(privilege)
  JOIN pg_catalog.pg_class AS c ON c.oid = %(log_oid)s
 WHERE NOT r.rolsuper AND r.oid <> c.relowner AND r.oid::pg_catalog.int8 >= %(first_oid)s
   AND pg_catalog.has_table_privilege(r.oid, c.oid, p.privilege)
UNION ALL
SELECT 'PUBLIC', g.privilege_type
  FROM pg_catalog.pg_class AS c CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) AS g
 WHERE c.oid = %(log_oid)s AND g.grantee = 0 AND g.privilege_type = ANY (%(privileges)s)
 ORDER BY 1, 2
"""


# ---------------------------------------------------------------------------------------------
# Pure shaping (unit-tested)
# ---------------------------------------------------------------------------------------------


def describe_file_source(path, line, data_directory):
    """{file, line, via} for a setting read from a configuration file."""
    auto = os.path.join(data_directory or "", AUTO_CONF)
    via = "ALTER SYSTEM" if path and os.path.normpath(path) == os.path.normpath(auto) else "config file"
    return dict(file=path, line=line, via=via)


def staged_settings(rows, data_directory):
    """{name: {value, source}} of the rows of pg_file_settings: the last one of a name wins.

    A row whose ``error`` is "setting could not be applied" is kept: that is how a postmaster
    parameter changed since the start (a pending restart) looks. Rows without a name (lines
    the server could not parse) are left out.
    """
    staged = {}
    for row in rows:
        if row.get("name") is None or row.get("setting") is None:
            continue
        staged[row["name"].lower()] = dict(
            value=row["setting"],
            source=describe_file_source(row["sourcefile"], row["sourceline"], data_directory),
        )
    return staged


def scope_entries(rows, prefix=ps.PREFIX):
    """Entries {scope, target, database, role, name, value, source} of pg_db_role_setting rows
    for the settings whose name starts with ``prefix``, sorted by scope order then target."""
    entries = []
    for row in rows:
        database, role = row.get("datname"), row.get("rolname")
        if not database and not role:
            continue
        scope, target = ps.scope_of(database, role)
        try:
            settings = ps.parse_setconfig(row.get("setconfig"))
        except ValueError:
            continue
        for name, value in sorted(settings.items()):
            if not name.lower().startswith(prefix):
                continue
            entries.append(
                dict(
                    scope=scope,
                    target=target,
                    database=database,
                    role=role,
                    name=name.lower(),
                    value=value,
                    source=dict(file=None, line=None, via=VIA[scope]),
                )
            )
    order = {"system": 0, "database": 1, "role": 2, "role_in_database": 3}
    entries.sort(key=lambda e: (order[e["scope"]], e["target"] or "", e["name"]))
    return entries


def system_entries(staged):
    """settings_by_scope entries of the pgaudit.* settings the configuration files set."""
    return [
        dict(
            scope="system", target=None, database=None, role=None, name=name, value=item["value"], source=item["source"]
        )
        for name, item in sorted(staged.items())
        if ps.is_pgaudit_name(name)
    ]


def system_log_value(running_settings, staged):
    """The system pgaudit.log sessions get: the running value, else the staged one, else 'none'."""
    if running_settings.get("pgaudit.log") is not None:
        return running_settings["pgaudit.log"]
    if "pgaudit.log" in staged:
        return staged["pgaudit.log"]["value"]
    return ps.SETTINGS["pgaudit.log"]["default"]


def weakening(entries, system_value):
    """Database, role and role-in-database pgaudit.log values that log fewer classes than the
    system value: [{scope, target, setting, value, system_value, classes_dropped}].

    A value pgaudit cannot read is listed with ``error``: a session there fails to start.
    """
    found = []
    for entry in entries:
        if entry["scope"] == "system" or entry["name"] != "pgaudit.log":
            continue
        item = dict(
            scope=entry["scope"],
            target=entry["target"],
            setting=entry["name"],
            value=entry["value"],
            system_value=system_value,
        )
        try:
            dropped = ps.weakens(system_value, entry["value"])
        except ValueError as exc:
            item.update(classes_dropped=[], error=str(exc))
            found.append(item)
            continue
        if dropped:
            item["classes_dropped"] = dropped
            found.append(item)
    return found


def closed_databases(rows):
    """{database: why} of CLOSED_DATABASES rows: databases no session of this user can open."""
    closed = {}
    for row in rows:
        if not row["datallowconn"]:
            closed[row["datname"]] = "does not allow connections (datallowconn is false)"
        else:
            closed[row["datname"]] = "does not grant CONNECT to the connecting role"
    return closed


def unreached_role_settings(entries, role_rows):
    """The role settings no session gets: [{scope, target, role, database, settings, login_members}].

    ``entries``: settings_by_scope entries (or any dicts with scope, target, role, database, name,
    value); ``role_rows``: ROLE_LOGINS rows. A role that cannot log in gets no session of its own,
    and pgaudit does not inherit role settings through membership, so its pgaudit.* values set
    for the role (or the role in a database) cover none of its login members.
    """
    logins = dict((row["rolname"], row) for row in role_rows)
    found = {}
    for entry in entries:
        if entry["scope"] not in ("role", "role_in_database"):
            continue
        row = logins.get(entry["role"])
        if row is None or row["rolcanlogin"]:
            continue
        item = found.setdefault(
            (entry["scope"], entry["target"]),
            dict(
                scope=entry["scope"],
                target=entry["target"],
                role=entry["role"],
                database=entry.get("database"),
                settings={},
                login_members=list(row["login_members"] or []),
            ),
        )
        item["settings"][entry["name"]] = entry["value"]
    return [found[key] for key in sorted(found)]


def unreached_message(item):
    """One sentence for a warning: which role's settings reach no session, and whom they miss."""
    where = "role %s" % item["role"] + (" in database %s" % item["database"] if item.get("database") else "")
    members = item["login_members"]
    return (
        "the pgaudit settings of %s (%s) reach no session: %s cannot log in, and pgaudit does not inherit role "
        "settings through membership or SET ROLE, so %s; set them on the login roles themselves"
        % (
            where,
            ", ".join("%s=%s" % (name, value) for name, value in sorted(item["settings"].items())),
            item["role"],
            ("its login members %s are not covered by them" % ", ".join(members))
            if members
            else "it has no login member",
        )
    )


def library_listed(entries, library, pkglibdir):
    """Whether ``library`` is in a list of shared_preload_libraries entries, under any spelling."""
    if entries is None:
        return False
    key = pgconf.library_key(library, pkglibdir or "")
    return any(pgconf.library_key(entry, pkglibdir or "") == key for entry in entries)


def expected_triggers(mode):
    """The trail's trigger names on an audited table in ``mode`` (row or statement)."""
    if mode == "statement":
        return sorted([name for name, _event, _old, _new in STATEMENT_TRIGGERS] + [TRUNCATE_TRIGGER])
    return sorted([ROW_TRIGGER, TRUNCATE_TRIGGER])


def trail_coverage(registry, triggers, schema_tables, event_triggers, trail_schema):
    """The coverage of one database's trail from the catalog rows.

    registry: the registry's rows as dicts (schema_name, table_name, mode...). triggers: rows
    of TRAIL_TRIGGERS. schema_tables: (schema, table) pairs of the schemas audited tables live
    in. event_triggers: {name: enabled}. Returns {status, audited, uncovered, event_triggers,
    audited_schemas}; each audited table lists its triggers, the expected ones missing and
    those not ENABLE ALWAYS (partitions' triggers included); a registered table that no longer
    exists has ``present: false`` and ``enable_always: null``.
    """
    existing = set(schema_tables)
    by_root = {}
    for row in triggers:
        by_root.setdefault((row["root_schema"], row["root_name"]), []).append(row)
    audited = []
    registered = set()
    for entry in sorted(registry, key=lambda e: (str(e.get("schema_name")), str(e.get("table_name")))):
        schema, table = entry.get("schema_name"), entry.get("table_name")
        if not schema or not table:
            continue
        registered.add((schema, table))
        mode = entry.get("mode") or "row"
        rows = by_root.get((schema, table), [])
        on_table = {r["tgname"]: r["enabled"] for r in rows if (r["rel_schema"], r["rel_name"]) == (schema, table)}
        missing = [name for name in expected_triggers(mode) if name not in on_table]
        not_always = [
            dict(relation=render(r["rel_schema"], r["rel_name"]), trigger=r["tgname"], enabled=r["enabled"])
            for r in rows
            if r["enabled"] != "A"
        ]
        present = (schema, table) in existing
        audited.append(
            dict(
                table=render(schema, table),
                mode=mode,
                present=present,
                triggers=[
                    dict(relation=render(r["rel_schema"], r["rel_name"]), name=r["tgname"], enabled=r["enabled"])
                    for r in rows
                ],
                missing_triggers=missing,
                not_always=not_always,
                # A registered table that was dropped has nothing left to protect.
                enable_always=(not missing and not not_always) if present else None,
            )
        )
    with_triggers = set(by_root)
    schemas = sorted({schema for schema, _table in registered if schema != trail_schema})
    uncovered = [
        render(schema, table)
        for schema, table in sorted(schema_tables)
        if schema in schemas and (schema, table) not in registered and (schema, table) not in with_triggers
    ]
    return dict(
        status=PRESENT,
        audited=audited,
        audited_schemas=schemas,
        uncovered=uncovered,
        event_triggers=dict(event_triggers),
    )


def writers(rows):
    """[{role, privileges}] from LOG_WRITERS rows (a role once, its privileges in a fixed order).

    A privilege PUBLIC holds is listed for PUBLIC only, not again for every role that has it
    through PUBLIC.
    """
    held = {}
    for row in rows:
        held.setdefault(row["grantee"], set()).add(row["privilege"])
    public = held.get("PUBLIC", set())
    result = []
    for role, privileges in sorted(held.items()):
        if role != "PUBLIC":
            privileges = privileges - public
        if privileges:
            result.append(dict(role=role, privileges=[p for p in LOG_PRIVILEGES if p in privileges]))
    return result


def parameter_grants(rows):
    """[{parameter, role, privileges}] of non-superuser grants on pgaudit.* parameters."""
    held = {}
    for row in rows:
        if row["superuser"]:
            continue
        held.setdefault((row["parname"], row["grantee"]), []).append(row["privilege_type"])
    return [
        dict(parameter=name, role=role, privileges=sorted(set(privs))) for (name, role), privs in sorted(held.items())
    ]


def replication_warnings(publications, subscriptions, trail_schema):
    """Warnings about logical replication from the PUBLICATIONS and SUBSCRIPTIONS rows (pure)."""
    warnings = []
    log = render(trail_schema, LOG)
    for pub in publications:
        if log in pub["trail_tables"]:
            warnings.append(
                "publication %s publishes the audit log %s%s: the log leaves this node, to every subscriber of "
                "it; a subscriber with its own trail skips these rows (README: Logical replication); publish "
                "the application's schemas instead (FOR TABLES IN SCHEMA)"
                % (pub["name"], log, " (FOR ALL TABLES)" if pub["all_tables"] else "")
            )
    for sub in subscriptions:
        if sub.get("apply_error_count") or sub.get("sync_error_count"):
            warnings.append(
                "subscription %s has failed %s time(s) applying changes and %s time(s) copying tables: its worker "
                "may be stalled (the server log says why), and the publisher keeps WAL for it"
                % (sub["name"], sub.get("apply_error_count") or 0, sub.get("sync_error_count") or 0)
            )
    return warnings


def backup_needs(trail_schema, objects):
    """The privileges a role needs to pg_dump the trail (pure)."""
    needs = ["USAGE on schema %s" % render(trail_schema)]
    needs += ["SELECT on %s" % render(trail_schema, o["name"]) for o in objects]
    return needs


def chain_result(row):
    """verify_chain()'s row as a dict with every known column (None when the function lacks it)."""
    row = dict(row or {})
    result = {name: row.get(name) for name in CHAIN_COLUMNS}
    for name, value in row.items():
        if name not in result:
            result[name] = value
    for name, value in result.items():
        if value is not None and not isinstance(value, (bool, int, float, str)):
            result[name] = str(value)
    return result


def package_of(path, run):
    """{name, version} of the OS package that owns ``path`` (dpkg or rpm), or None.

    ``run(args) -> (rc, stdout, stderr)`` runs a command; a missing tool or an unowned file
    gives None.
    """
    if not path or not os.path.exists(path):
        return None
    try:
        rc, out, _err = run(["dpkg-query", "-S", path])
    except OSError:
        rc, out = 1, ""
    if rc == 0 and ":" in out:
        name = out.splitlines()[0].split(":", 1)[0].split(",")[0].strip()
        try:
            rc, version, _err = run(["dpkg-query", "-W", "-f", "${Version}", name])
        except OSError:
            rc, version = 1, ""
        return dict(name=name, version=version.strip() if rc == 0 else None, manager="dpkg")
    try:
        rc, out, _err = run(["rpm", "-qf", "--qf", "%{NAME} %{VERSION}-%{RELEASE}\\n", path])
    except OSError:
        return None
    if rc == 0 and out.strip() and " " in out.strip():
        name, version = out.strip().splitlines()[0].split(" ", 1)
        return dict(name=name, version=version, manager="rpm")
    return None
