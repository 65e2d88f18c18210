#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: pgaudit_settings
short_description: Apply pgaudit settings at system, database, role and role-in-database scope
version_added: 0.1.0
description:
  - Sets C(pgaudit.*) parameters with C(ALTER SYSTEM), C(ALTER DATABASE ... SET),
    C(ALTER ROLE ... SET) and C(ALTER ROLE ... IN DATABASE ... SET), all in one connection.
  - Validates everything before it changes anything; every setting name, value and C(pgaudit.log)
    class, every database and role, and every setting the installed pgaudit version lacks.
    All problems are reported together and nothing is changed.
  - Database and role scopes change all or nothing, in one transaction. C(ALTER SYSTEM) cannot
    run in a transaction, so the system scope is applied after it, followed by
    C(SELECT pg_reload_conf()) when something changed there.
  - Values compare by meaning (C(WRITE,ddl) equals C(write, ddl), C(true) equals C(on)), and the
    system scope compares with the staged value (C(pg_file_settings)), so a second run reports
    no change even before the configuration is reloaded.
extends_documentation_fragment:
  - pgtrail.audit.connection
attributes:
  check_mode:
    support: full
    description: Plans and reports the same RV(changes) and RV(executed_queries); writes nothing.
  diff_mode:
    support: full
    description: Shows the settings of every listed scope before and after.
options:
  system:
    description:
      - pgaudit settings for the whole server, set with C(ALTER SYSTEM).
      - Keys are setting names with or without the C(pgaudit.) prefix (C(log) or C(pgaudit.log));
        C(log) takes a list of classes or a comma-separated string.
      - When pgaudit is not loaded yet, the values are staged (written to C(postgresql.auto.conf))
        and take effect once the server restarts with pgaudit in C(shared_preload_libraries).
    type: dict
  server_settings:
    description:
      - Other server parameters to set with C(ALTER SYSTEM), for example C(log_connections),
        C(log_disconnections) or C(log_line_prefix).
      - Each name must exist in C(pg_settings). Booleans, enums and plain numbers are checked
        against C(pg_settings) before anything changes; numbers with a unit are checked by the server.
      - A parameter that needs a restart (C(pg_settings.context) C(postmaster)) is staged and
        reported in RV(pending_restart) while the running value differs.
      - C(pgaudit.*) names belong in O(system); C(shared_preload_libraries) belongs to
        M(pgtrail.audit.preload), which merges the list instead of replacing it.
    type: dict
  databases:
    description:
      - Settings per database, as C(database name -> settings), set with C(ALTER DATABASE ... SET).
      - Each database must exist.
    type: dict
  roles:
    description:
      - Settings per role, as C(role name -> settings), set with C(ALTER ROLE ... SET).
      - With the extra key C(database) in a role's settings, they apply only in that database
        (C(ALTER ROLE ... IN DATABASE ... SET)).
      - Role settings are not inherited through role membership and are read at session start.
    type: dict
  remove_unlisted:
    description:
      - At every scope listed in this task, reset the C(pgaudit.*) settings set there that the task
        does not list. Parameters that are not C(pgaudit.*) are never touched.
      - At system scope only C(postgresql.auto.conf) entries can be reset; a C(pgaudit.*) line in
        C(postgresql.conf) is reported as a warning instead.
    type: bool
    default: false
notes:
  - A value set for a database or role replaces the system value of that setting for those
    sessions; a C(pgaudit.log) that logs fewer classes than the system value is reported as a
    warning when it is set.
  - Object auditing needs O(system) C(role) (C(pgaudit.role)) to name the role that
    M(pgtrail.audit.object_audit) grants privileges to.
seealso:
  - module: pgtrail.audit.pgaudit_extension
  - module: pgtrail.audit.object_audit
author:
  - pgtrail.audit maintainers (@pgtrail)
"""

EXAMPLES = r"""
- name: Audit writes and DDL everywhere, reads in finance, everything the ETL role does in the warehouse
  become: true
  become_user: postgres
  pgtrail.audit.pgaudit_settings:
    system:
      log: [write, ddl]
      log_catalog: false
      log_parameter: true
      role: audit_objects
    server_settings:
      log_connections: true
      log_disconnections: true
      log_line_prefix: "%m [%p] %q%u@%d "
    databases:
      finance:
        log: [read, write, ddl]
    roles:
      etl_loader:
        database: warehouse
        log: all
      monitoring:
        log: none

- name: Keep only the listed pgaudit settings in the finance database
  become: true
  become_user: postgres
  pgtrail.audit.pgaudit_settings:
    databases:
      finance: {log: "read, write"}
    remove_unlisted: true
"""

RETURN = r"""
changes:
  description: Every setting changed (or, in check mode, that would change).
  returned: always
  type: list
  elements: dict
  contains:
    scope:
      description: One of C(system), C(database), C(role), C(role_in_database).
      type: str
    target:
      description: The database, the role, or C(role@database); null for C(system).
      type: str
    database:
      description: The database, for the C(database) and C(role_in_database) scopes.
      type: str
    role:
      description: The role, for the C(role) and C(role_in_database) scopes.
      type: str
    name:
      description: The full parameter name.
      type: str
    before:
      description: The value set at that scope before, or null.
      type: str
    after:
      description: The value set at that scope after, or null when it is reset.
      type: str
  sample:
    - {scope: database, target: finance, database: finance, name: pgaudit.log, before: null, after: "read, write"}
    - {scope: role_in_database, target: etl_loader@warehouse, role: etl_loader, database: warehouse,
       name: pgaudit.log, before: "write", after: "all"}
restart_required:
  description:
    - Whether a parameter of O(server_settings) waits for a restart (its staged value differs
      from the running one).
  returned: always
  type: bool
  sample: false
pending_restart:
  description: The parameters of O(server_settings) whose staged value waits for a restart.
  returned: always
  type: list
  elements: str
  sample: [max_connections]
pgaudit_version:
  description:
    - The pgaudit extension version the installed package offers, used to check settings; null
      when pgaudit is not installed.
  returned: always
  type: str
  sample: "1.7"
unreached_role_settings:
  description:
    - The listed roles that cannot log in (NOLOGIN group roles), with the settings given for them
      and their login members. pgaudit does not inherit role settings through membership or
      C(SET ROLE), so these settings reach no session; each is also reported as a warning.
  returned: always
  type: list
  elements: dict
  sample:
    - {scope: role, target: dba_team, role: dba_team, database: null, settings: {pgaudit.log: all},
       login_members: [alice, bob]}
executed_queries:
  description: The statements run (in check mode, that would run), in order.
  returned: always
  type: list
  elements: str
  sample:
    - ALTER DATABASE "finance" SET "pgaudit"."log" = 'read, write'
    - ALTER SYSTEM SET "pgaudit"."log" = 'write, ddl'
    - SELECT pg_reload_conf()
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgtrail.audit.plugins.module_utils import audit_facts, postgres, server_settings
from ansible_collections.pgtrail.audit.plugins.module_utils import pgaudit_settings as ps

FACTS = """
SELECT current_setting('server_version_num')::int AS version_num,
       current_setting('data_directory') AS data_directory,
       (SELECT default_version FROM pg_catalog.pg_available_extensions WHERE name = 'pgaudit') AS pgaudit_version,
       ARRAY(SELECT name FROM pg_catalog.pg_settings WHERE name LIKE 'pgaudit.%') AS known_pgaudit
"""

STAGED = """
SELECT name, setting, sourcefile, sourceline FROM pg_catalog.pg_file_settings ORDER BY seqno
"""

SCOPE_SETTINGS = """
SELECT d.datname, r.rolname, s.setconfig
  FROM pg_catalog.pg_db_role_setting s
  LEFT JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase
  LEFT JOIN pg_catalog.pg_roles r ON r.oid = s.setrole
"""

SERVER_PARAMETERS = """
SELECT name, vartype, context, enumvals, min_val, max_val, current_setting(name) AS running
  FROM pg_catalog.pg_settings WHERE name = ANY(%s)
"""

# ALTER SYSTEM learned to accept unrecognised custom parameters in PostgreSQL 17.
SYSTEM_ACCEPTS_UNKNOWN = 170000


class Scope:
    """One place settings live: the server, a database, a role, or a role in a database."""

    def __init__(self, kind, database=None, role=None, desired=None):
        self.kind = kind
        self.database = database
        self.role = role
        self.desired = desired or {}
        self.current = {}
        self.actions = []

    @property
    def target(self):
        if self.kind == "role_in_database":
            return "%s@%s" % (self.role, self.database)
        return self.database if self.kind == "database" else self.role

    @property
    def label(self):
        return {
            "system": "system",
            "database": "database %s" % self.database,
            "role": "role %s" % self.role,
            "role_in_database": "role %s in database %s" % (self.role, self.database),
        }[self.kind]

    def statement(self, name, value=None):
        """ALTER ... SET name = value, or RESET name when value is None."""
        sql = postgres.sql
        guc = sql.Identifier(*name.split("."))
        head = {
            "system": sql.SQL("ALTER SYSTEM"),
            "database": sql.SQL("ALTER DATABASE {}").format(sql.Identifier(self.database or "")),
            "role": sql.SQL("ALTER ROLE {}").format(sql.Identifier(self.role or "")),
            "role_in_database": sql.SQL("ALTER ROLE {} IN DATABASE {}").format(
                sql.Identifier(self.role or ""), sql.Identifier(self.database or "")
            ),
        }[self.kind]
        if value is None:
            return sql.SQL("{} RESET {}").format(head, guc)
        return sql.SQL("{} SET {} = {}").format(head, guc, sql.Literal(value))


def validate(module, session, facts):
    """Normalise every scope and check every name; returns (scopes, server) or fails naming every problem."""
    params = module.params
    version = facts["pgaudit_version"]
    errors = []
    scopes = []

    def settings_of(where, values):
        if not isinstance(values, dict):
            errors.append("%s: expected a dict of pgaudit settings, got %r" % (where, values))
            return {}
        try:
            return ps.normalize_settings(values, pgaudit_version=version)
        except ValueError as exc:
            errors.append("%s: %s" % (where, exc))
            return {}

    if params["system"] is not None:
        scopes.append(Scope("system", desired=settings_of("system", params["system"])))
    for database, values in sorted((params["databases"] or {}).items()):
        scopes.append(Scope("database", database=database, desired=settings_of("databases.%s" % database, values)))
    for role, values in sorted((params["roles"] or {}).items()):
        values = dict(values) if isinstance(values, dict) else values
        database = values.pop("database", None) if isinstance(values, dict) else None
        if database is not None and not isinstance(database, str):
            errors.append("roles.%s: database must be a database name, got %r" % (role, database))
            database = None
        kind = "role_in_database" if database else "role"
        scopes.append(Scope(kind, database=database, role=role, desired=settings_of("roles.%s" % role, values)))

    databases = sorted({s.database for s in scopes if s.database})
    if databases:
        found = {
            r["datname"]
            for r in session.query("SELECT datname FROM pg_catalog.pg_database WHERE datname = ANY(%s)", [databases])
        }
        for name in databases:
            if name not in found:
                errors.append("database %r does not exist" % name)
    roles = sorted({s.role for s in scopes if s.role})
    if roles:
        found = {
            r["rolname"]
            for r in session.query("SELECT rolname FROM pg_catalog.pg_roles WHERE rolname = ANY(%s)", [roles])
        }
        for name in roles:
            if name not in found:
                errors.append("role %r does not exist" % name)

    server = {}
    requested = params["server_settings"] or {}
    if requested:
        names = {}
        for name in requested:
            key = str(name).strip().lower()
            if ps.is_pgaudit_name(key):
                errors.append("server_settings: %s is a pgaudit setting; give it in 'system'" % name)
            else:
                names[key] = name
        rows = {r["name"]: r for r in session.query(SERVER_PARAMETERS, [sorted(names)])}
        unknown = sorted(names[key] for key in names if key not in rows)
        if unknown:
            errors.append(
                "server_settings: unknown parameter(s) %s (not in pg_settings on PostgreSQL %d)"
                % (", ".join(repr(n) for n in unknown), facts["version_num"] // 10000)
            )
        for key in sorted(names):
            if key not in rows:
                continue
            try:
                server[key] = dict(rows[key], value=server_settings.check_value(key, requested[names[key]], rows[key]))
            except ValueError as exc:
                errors.append("server_settings: %s" % exc)

    if errors:
        module.fail_json(
            msg="Nothing was changed: %d problem(s): %s" % (len(errors), "; ".join(errors)),
            changed=False,
            executed_queries=[],
        )
    return scopes, server


def read_staged(session, facts):
    """The staged value of every parameter (last row per name wins) and the names set in postgresql.auto.conf."""
    auto_conf = facts["data_directory"].rstrip("/") + "/postgresql.auto.conf"
    staged, in_auto, elsewhere = {}, set(), {}
    for row in session.query(STAGED):
        name = row["name"].lower()
        staged[name] = row["setting"]
        if row["sourcefile"] == auto_conf:
            in_auto.add(name)
        else:
            elsewhere[name] = "%s line %s" % (row["sourcefile"], row["sourceline"])
    return staged, in_auto, elsewhere


def plan(module, session, facts, scopes, server):
    """Fill each scope's current values and actions; returns the server-setting actions."""
    remove = module.params["remove_unlisted"]
    staged, in_auto, elsewhere = read_staged(session, facts)
    facts["staged_log"] = staged.get("pgaudit.log")
    stored = {}
    for row in session.query(SCOPE_SETTINGS):
        stored[(row["datname"], row["rolname"])] = ps.parse_setconfig(row["setconfig"])
    loaded = bool(facts["known_pgaudit"])
    for scope in scopes:
        if scope.kind == "system":
            scope.current = {n: v for n, v in staged.items() if ps.is_pgaudit_name(n)}
        else:
            key = (scope.database, None) if scope.kind == "database" else (scope.database, scope.role)
            scope.current = {n: v for n, v in stored.get(key, {}).items() if ps.is_pgaudit_name(n)}
        actions = ps.plan_scope(scope.current, scope.desired, remove_unlisted=remove)
        if scope.kind == "system":
            kept = []
            for action in actions:
                name = action[1]
                if action[0] == "reset" and name not in in_auto:
                    module.warn(
                        "%s is set in %s; ALTER SYSTEM cannot remove it: delete that line by hand"
                        % (name, elsewhere.get(name, "a configuration file"))
                    )
                    continue
                if (
                    action[0] == "reset"
                    and loaded
                    and name not in ps.SETTINGS
                    and facts["version_num"] < SYSTEM_ACCEPTS_UNKNOWN
                ):
                    module.warn(
                        "%s in postgresql.auto.conf is not a pgaudit setting and PostgreSQL %d refuses ALTER SYSTEM "
                        "on it while pgaudit is loaded: delete that line by hand"
                        % (name, facts["version_num"] // 10000)
                    )
                    continue
                if action[0] == "reset" and name in elsewhere:
                    module.warn("%s is also set in %s, which applies once it is reset" % (name, elsewhere[name]))
                kept.append(action)
            actions = kept
        scope.actions = actions

    server_actions = []
    for name, row in sorted(server.items()):
        before = row["staged"] = staged.get(name, row["running"])
        if not server_settings.same_value(before, row["value"], row["vartype"]):
            server_actions.append((name, before, row["value"]))
    return server_actions


def warn_weakening(module, scopes, staged_log):
    """Warn when a database or role pgaudit.log being set logs fewer classes than the system value."""
    system = next((s for s in scopes if s.kind == "system"), None)
    system_log = system.desired.get("pgaudit.log", staged_log) if system else staged_log
    if not system_log:
        return
    for scope in scopes:
        for action in scope.actions:
            if scope.kind == "system" or action[0] != "set" or action[1] != "pgaudit.log":
                continue
            try:
                missing = ps.weakens(system_log, action[2])
            except ValueError:
                continue
            if missing:
                module.warn(
                    "%s: pgaudit.log %r does not log %s, which the system value %r logs; it replaces the system "
                    "value for those sessions" % (scope.label, action[2], ", ".join(missing), system_log)
                )


def warn_unreached(module, session, scopes):
    """Warn about, and return, the listed role scopes whose role cannot log in."""
    entries = [
        dict(scope=scope.kind, target=scope.target, role=scope.role, database=scope.database, name=name, value=value)
        for scope in scopes
        if scope.role
        for name, value in scope.desired.items()
    ]
    roles = sorted({entry["role"] for entry in entries})
    if not roles:
        return []
    unreached = audit_facts.unreached_role_settings(entries, session.query(audit_facts.ROLE_LOGINS, dict(roles=roles)))
    for item in unreached:
        module.warn(audit_facts.unreached_message(item))
    return unreached


def describe(scopes, server_actions, server):
    """The changes list and the before/after of every listed scope."""
    changes = []
    before, after = {}, {}
    for scope in scopes:
        old = dict(sorted(scope.current.items()))
        new = dict(old)
        for action in scope.actions:
            name = action[1]
            value = action[2] if action[0] == "set" else None
            change = dict(scope=scope.kind, target=scope.target, name=name, before=old.get(name), after=value)
            if scope.database:
                change["database"] = scope.database
            if scope.role:
                change["role"] = scope.role
            changes.append(change)
            if value is None:
                new.pop(name, None)
            else:
                new[name] = value
        before[scope.label] = old
        after[scope.label] = dict(sorted(new.items()))
    if server:
        before.setdefault("system", {})
        after.setdefault("system", {})
        for name, row in server.items():
            before["system"][name] = after["system"][name] = row["staged"]
        for name, old, value in server_actions:
            changes.append(dict(scope="system", target=None, name=name, before=old, after=value))
            before["system"][name] = old
            after["system"][name] = value
        before["system"] = dict(sorted(before["system"].items()))
        after["system"] = dict(sorted(after["system"].items()))
    return changes, dict(before=before, after=after)


def pending_restart(server, server_actions):
    """Postmaster parameters whose staged (or about to be staged) value differs from the running one."""
    staged = {name: value for name, _old, value in server_actions}
    pending = []
    for name, row in sorted(server.items()):
        if row["context"] != "postmaster":
            continue
        value = staged.get(name)
        if value is None:
            value = row["value"]
        if not server_settings.same_value(value, row["running"], row["vartype"]):
            pending.append(name)
    return pending


def apply(module, session, facts, scopes, server_actions):
    """Database and role scopes in one transaction, then ALTER SYSTEM (no transaction) and a reload."""
    sql = postgres.sql
    scoped = [(scope, action) for scope in scopes if scope.kind != "system" for action in scope.actions]
    if scoped:
        try:
            with session.conn.transaction():
                for scope, action in scoped:
                    session.change(scope.statement(action[1], action[2] if action[0] == "set" else None))
        except postgres.psycopg.Error as exc:
            module.fail_json(
                msg="PostgreSQL refused %s: %s; the database and role settings were rolled back and nothing was changed"
                % (session.executed_queries[-1], str(exc).strip()),
                executed_queries=session.executed_queries,
            )
    system = next((s for s in scopes if s.kind == "system"), None)
    system_actions = list(system.actions) if system else []
    known = set(facts["known_pgaudit"])
    for action in system_actions:
        name = action[1]
        if name not in known and facts["version_num"] < SYSTEM_ACCEPTS_UNKNOWN:
            # PostgreSQL 15 and 16 refuse ALTER SYSTEM on a parameter the session does not know;
            # a placeholder (reverted at the end of its transaction) lets pgaudit.* be staged
            # before the restart that loads pgaudit.
            session.change(sql.SQL("SELECT set_config({}, '', true)").format(sql.Literal(name)))
            known.add(name)
        session.change(system.statement(name, action[2] if action[0] == "set" else None))
    for name, _old, value in server_actions:
        session.change(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
    if system_actions or server_actions:
        session.change("SELECT pg_reload_conf()")


def main():
    argument_spec = postgres.connection_argument_spec()
    argument_spec.update(
        system=dict(type="dict"),
        server_settings=dict(type="dict"),
        databases=dict(type="dict"),
        roles=dict(type="dict"),
        remove_unlisted=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    session = postgres.open_session(module, autocommit=True)
    try:
        facts = session.query(FACTS)[0]
        scopes, server = validate(module, session, facts)
        server_actions = plan(module, session, facts, scopes, server)
        warn_weakening(module, scopes, facts["staged_log"])
        unreached = warn_unreached(module, session, scopes)
        changes, diff = describe(scopes, server_actions, server)
        apply(module, session, facts, scopes, server_actions)
    except postgres.psycopg.Error as exc:
        last = session.executed_queries[-1] if session.executed_queries else "a query"
        module.fail_json(
            msg="PostgreSQL refused %s: %s" % (last, str(exc).strip()),
            executed_queries=session.executed_queries,
        )
    finally:
        session.close()
    pending = pending_restart(server, server_actions)
    result = dict(
        changed=bool(changes),
        changes=changes,
        restart_required=bool(pending),
        pending_restart=pending,
        pgaudit_version=facts["pgaudit_version"],
        unreached_role_settings=unreached,
        executed_queries=session.executed_queries,
    )
    if module._diff:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
