# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The evidence an auditor asks for, shaped from what the catalog returns (pure; unit-tested).

module_utils/audit_info.py reads the server and each database; the functions below shape what
it reads: where each pgaudit setting comes from, which
database or role values weaken the system classes, what each login really gets in each database
(pgaudit's precedence), who can switch auditing off, how far the audit trail covers its schemas,
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
VIA = {
    "all_roles": "ALTER ROLE ALL",
    "database": "ALTER DATABASE",
    "role": "ALTER ROLE",
    "role_in_database": "ALTER ROLE IN DATABASE",
}
# The target of an ALTER ROLE ALL value (pg_db_role_setting with neither database nor role).
ALL_ROLES = "ALL"
# Where a new session takes each setting from, most specific first (PostgreSQL's process_settings
# applies role in database, role, database, then ALTER ROLE ALL over the files, and the files
# over the default). Role settings are never taken from the roles a login is a member of.
PRECEDENCE = ("role_in_database", "role", "database", "all_roles", "system", "default")
# pg_settings sources that are the server's own (what every session starts from); any other
# source (database, user, global...) is the reading session's own value and hides the system one.
SERVER_SOURCES = ("default", "configuration file", "command line", "environment variable", "override")

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
            scope, target = "all_roles", ALL_ROLES
        else:
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
    order = {"system": 0, "all_roles": 1, "database": 2, "role": 3, "role_in_database": 4}
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


def classes_dropped(system_value, value):
    """(the classes ``system_value`` logs and ``value`` does not, sorted; the error of a value
    pgaudit cannot read, else None): the one comparison behind every weakening flag."""
    try:
        return ps.weakens(system_value, value), None
    except ValueError as exc:
        return [], str(exc)


def weakening(entries, system_value):
    """Database, role, role-in-database and ALTER ROLE ALL pgaudit.log values that log fewer
    classes than the system value: [{scope, target, setting, value, system_value, classes_dropped}].

    A value pgaudit cannot read is listed with ``error``: sessions skip it with a WARNING and take
    the next scope's value.
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
        dropped, error = classes_dropped(system_value, entry["value"])
        if error:
            item.update(classes_dropped=[], error=error)
            found.append(item)
        elif dropped:
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


# ---------------------------------------------------------------------------------------------
# The effective policy of every login (pure; unit-tested)
# ---------------------------------------------------------------------------------------------


def shown_value(name, value):
    """``value`` of setting ``name`` as ``SHOW`` prints it; ValueError when the server refuses it.

    pgaudit.log and pgaudit.role are shown as given (pgaudit.log checked as pgaudit checks it);
    the others as PostgreSQL normalises them (on/off, a lower-case level, a decimal).
    """
    if name == "pgaudit.log":
        ps.effective_classes(value)
        return value
    if name not in ps.SETTINGS or ps.SETTINGS[name]["type"] == "string":
        return value
    return ps.normalize_setting(name, value)


def _shown_or_given(name, value):
    try:
        return shown_value(name, value)
    except ValueError:
        return value


def system_policy(rows, staged, data_directory):
    """{name: {value, scope, via, file, line}}: what a new session starts from for each pgaudit
    setting, before any database or role value (``scope`` is ``system`` or ``default``).

    ``rows``: SYSTEM_POLICY rows (pg_settings of the reading session); ``staged``:
    staged_settings(). A row whose source is the server's own is what every session gets; any other
    source (the reading role's or database's own value) hides it, and the staged value stands in.
    """
    by_name = dict((row["name"], row) for row in rows)
    names = set(by_name) | set(name for name in staged if ps.is_pgaudit_name(name)) | set(["pgaudit.log"])
    result = {}
    for name in sorted(names):
        row = by_name.get(name)
        source = row["source"] if row else None
        if source in SERVER_SOURCES and source != "default":
            if source == "configuration file":
                where = describe_file_source(row["sourcefile"], row["sourceline"], data_directory)
            else:
                where = dict(file=None, line=None, via=source)
            item = dict(value=row["setting"], scope="system", **where)
        elif name in staged and source not in SERVER_SOURCES:
            item = dict(value=_shown_or_given(name, staged[name]["value"]), scope="system", **staged[name]["source"])
        else:
            default = row["boot_val"] if row else ps.SETTINGS.get(name, {}).get("default")
            item = dict(value=default, scope="default", file=None, line=None, via="default")
        result[name] = item
    return result


def effective_policy(logins, databases, entries, system, unreached=()):
    """What pgaudit applies to a session of each login in each database: one cell per pair.

    ``logins``: [{rolname, rolsuper}]; ``entries``: settings_by_scope entries (the system ones are
    left out: ``system`` is system_policy()); ``unreached``: unreached_role_settings() items.
    Each cell: {login, database, superuser, settings {name: value}, sources {name: scope},
    classes_dropped (what the system pgaudit.log logs and this login does not), ignored (values
    the server skips at session start, with a WARNING, for the next scope's), not_inherited
    (group roles whose settings the login does not get)}.
    """
    at = {}
    for entry in entries:
        if entry["scope"] != "system":
            key = (entry["scope"], entry.get("database"), entry.get("role"))
            at.setdefault(key, {})[entry["name"]] = entry
    names = sorted(set(system) | set(name for (_scope, _db, _role), values in at.items() for name in values))
    system_log = (system.get("pgaudit.log") or {}).get("value") or ps.SETTINGS["pgaudit.log"]["default"]
    cells = []
    for login in logins:
        role = login["rolname"]
        for database in databases:
            keys = (
                ("role_in_database", database, role),
                ("role", None, role),
                ("database", database, None),
                ("all_roles", None, None),
            )
            settings, sources, ignored = {}, {}, []
            for name in names:
                settings[name] = system[name]["value"] if name in system else ps.SETTINGS.get(name, {}).get("default")
                sources[name] = system[name]["scope"] if name in system else "default"
                for key in keys:
                    entry = at.get(key, {}).get(name)
                    if entry is None:
                        continue
                    try:
                        settings[name] = shown_value(name, entry["value"])
                    except ValueError as exc:
                        ignored.append(
                            dict(scope=key[0], target=entry["target"], name=name, value=entry["value"], error=str(exc))
                        )
                        continue
                    sources[name] = key[0]
                    break
            dropped, _error = classes_dropped(system_log, settings.get("pgaudit.log"))
            cells.append(
                dict(
                    login=role,
                    database=database,
                    superuser=bool(login.get("rolsuper")),
                    settings=settings,
                    sources=sources,
                    classes_dropped=dropped,
                    ignored=ignored,
                    not_inherited=[
                        dict(role=item["role"], settings=item["settings"])
                        for item in unreached
                        if role in item["login_members"] and item.get("database") in (None, database)
                    ],
                )
            )
    return cells


# ---------------------------------------------------------------------------------------------
# Who can switch auditing off (pure; unit-tested)
# ---------------------------------------------------------------------------------------------

MEMBERSHIP_OPTIONS_SINCE = 160000
# The kinds of SWITCH_OFF, in the order they are listed.
SWITCH_OFF_KINDS = (
    "superuser",
    "becomes_superuser",
    "set_parameter",
    "bypassrls",
    "replication",
    "owns_audited_tables",
)


def role_reach_options(server_version_num):
    """The {inherit} and {set} SQL of audit_info's ROLE_REACH for a server version: on PostgreSQL
    16+ the grant's INHERIT and SET options; before 16 the member's rolinherit, and SET ROLE always."""
    if server_version_num >= MEMBERSHIP_OPTIONS_SINCE:
        return dict(inherit="m.inherit_option", set="m.set_option")
    return dict(
        inherit="(SELECT x.rolinherit FROM pg_catalog.pg_roles AS x WHERE x.oid = m.member)",
        set="true",
    )


def switch_off(reach_rows, grants, owners):
    """The login roles that can switch auditing off, and how: [{role, kind, via, database, what}].

    ``reach_rows``: ROLE_REACH rows; ``grants``: parameter_grants() (SET or ALTER SYSTEM on
    pgaudit.*); ``owners``: {database: [{table, owner}]} of the audited tables. Kinds:
    superuser; becomes_superuser (SET ROLE to a superuser role, ``via`` it); set_parameter (a grant
    on pgaudit.* held by the login, a role it inherits or can SET ROLE to, or PUBLIC);
    bypassrls (its own or a role's it can SET ROLE to); replication (its own: replication
    connections take the login's attribute); owns_audited_tables (it owns, inherits or can SET ROLE
    to the owner, per database). A superuser is listed as such only.
    """
    reach = {}
    for row in reach_rows:
        reach.setdefault(row["login"], []).append(row)
    found = []
    for login in sorted(reach):
        rows = reach[login]
        own = next((r for r in rows if r["role"] == login), None) or {}
        if own.get("superuser"):
            found.append(_finding(login, "superuser"))
            continue
        settable = [r for r in rows if r["settable"] and r["role"] != login]
        usable = set(r["role"] for r in rows if r["inherited"] or r["settable"]) | set(["PUBLIC"])
        supers = [r["role"] for r in settable if r["superuser"]]
        if supers:
            found.append(_finding(login, "becomes_superuser", supers))
        held = [g for g in grants if g["role"] in usable]
        if held:
            via = [g["role"] for g in held if g["role"] != login]
            found.append(_finding(login, "set_parameter", via, [g["parameter"] for g in held]))
        bypass = [r["role"] for r in settable if r["bypassrls"]]
        if own.get("bypassrls") or bypass:
            found.append(_finding(login, "bypassrls", bypass))
        if own.get("replication"):
            found.append(_finding(login, "replication"))
        for database in sorted(owners):
            tables = [t for t in owners[database] if t["owner"] in usable]
            if tables:
                via = [t["owner"] for t in tables if t["owner"] != login]
                found.append(_finding(login, "owns_audited_tables", via, [t["table"] for t in tables], database))
    return found


def _finding(role, kind, via=(), what=(), database=None):
    """One row of switch_off()."""
    return dict(role=role, kind=kind, via=sorted(set(via)), database=database, what=sorted(set(what)))


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
