# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pgaudit_settings module's run: pgaudit settings at system, database, role and
role-in-database scope, plus other server parameters, in one connection.

:func:`run` reads the server, validates everything (every problem named at once, nothing
changed), plans each scope with ``pgaudit_settings.plan_scope``, then applies the database and
role scopes in one transaction and the system scope with ALTER SYSTEM (which cannot run in a
transaction) and a reload. The shaping between the reads and the writes is pure and unit-tested.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgtrail.audit.plugins.module_utils import audit_facts, postgres, server_settings
from ansible_collections.pgtrail.audit.plugins.module_utils import pgaudit_settings as ps

# What this module needs besides postgres.server_facts (superuser or pg_read_all_settings).
FACTS = """
SELECT current_setting('data_directory') AS data_directory,
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

# The names of the databases and roles the task lists that exist.
EXISTING = {
    "database": "SELECT datname AS name FROM pg_catalog.pg_database WHERE datname = ANY(%s)",
    "role": "SELECT rolname AS name FROM pg_catalog.pg_roles WHERE rolname = ANY(%s)",
}

# ALTER SYSTEM learned to accept unrecognised custom parameters in PostgreSQL 17.
SYSTEM_ACCEPTS_UNKNOWN = 170000

DEPRECATED_PROFILE = "profile %s is renamed %s; the old name is removed in release 0.2.0"


def argument_spec():
    """The pgaudit_settings module's options (audit_plan plans the settings with them too)."""
    return postgres.connection_argument_spec(
        profile=dict(type="str", choices=["baseline", "cis", "stig", "coverage", "seed"]),
        system=dict(type="dict"),
        server_settings=dict(type="dict"),
        databases=dict(type="dict"),
        roles=dict(type="dict"),
        remove_unlisted=dict(type="bool", default=False),
    )


class Refused(Exception):
    """Input the module refuses before any change; ``problems`` lists every reason."""

    def __init__(self, problems):
        super().__init__("; ".join(problems))
        self.problems = problems


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
        return None if self.kind == "system" else ps.scope_of(self.database, self.role)[1]

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


# ---------------------------------------------------------------------------------------------
# Pure shaping (unit-tested)
# ---------------------------------------------------------------------------------------------


def _full_name(name):
    try:
        return ps.full_name(name)
    except ValueError:
        return name  # refused by parse_scopes, naming it


def system_desired(profile, system):
    """The system scope's settings: the profile's values, then ``system``'s over them (under
    either spelling of a name); None when neither is given (the task leaves that scope alone)."""
    if profile is None:
        return system
    if system is not None and not isinstance(system, dict):
        return system  # refused by parse_scopes, naming it
    given = {_full_name(name) for name in system or {}}
    base = {name: value for name, value in ps.profile_settings(profile).items() if name not in given}
    return dict(base, **(system or {}))


def profile_server_settings(profile, server_settings):
    """The server parameters to set: the profile's (PROFILE_SERVER_SETTINGS), then the task's."""
    given = server_settings or {}
    named = {str(name).strip().lower() for name in given}
    base = {} if profile is None else ps.PROFILE_SERVER_SETTINGS.get(ps.profile_name(profile), {})
    return dict(dict((name, value) for name, value in base.items() if name not in named), **given)


def parse_scopes(params, pgaudit_version):
    """(scopes, errors): the scopes the task lists, their settings normalised."""
    errors = []
    scopes = []

    def settings_of(where, values):
        if not isinstance(values, dict):
            errors.append("%s: expected a dict of pgaudit settings, got %r" % (where, values))
            return {}
        try:
            return ps.normalize_settings(values, pgaudit_version=pgaudit_version)
        except ValueError as exc:
            errors.append("%s: %s" % (where, exc))
            return {}

    system = system_desired(params.get("profile"), params["system"])
    if system is not None:
        scopes.append(Scope("system", desired=settings_of("system", system)))
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
    return scopes, errors


def server_setting_names(requested):
    """({lower-case name: name as given}, errors) of the server_settings option."""
    names, errors = {}, []
    for name in requested or {}:
        key = str(name).strip().lower()
        if ps.is_pgaudit_name(key):
            errors.append("server_settings: %s is a pgaudit setting; give it in 'system'" % name)
        else:
            names[key] = name
    return names, errors


def check_server_settings(requested, names, rows, major):
    """({name: pg_settings row with the value to write}, errors) of the server_settings option."""
    server, errors = {}, []
    unknown = sorted(names[key] for key in names if key not in rows)
    if unknown:
        errors.append(
            "server_settings: unknown parameter(s) %s (not in pg_settings on PostgreSQL %d)"
            % (", ".join(repr(n) for n in unknown), major)
        )
    for key in sorted(names):
        if key not in rows:
            continue
        try:
            server[key] = dict(rows[key], value=server_settings.check_value(key, requested[names[key]], rows[key]))
        except ValueError as exc:
            errors.append("server_settings: %s" % exc)
    return server, errors


def staged_values(rows, data_directory):
    """(staged, in_auto, elsewhere) of pg_file_settings rows: the staged value of every parameter
    (the last row of a name wins), the names postgresql.auto.conf sets, and {name: "file line n"}
    of those set in another file."""
    auto_conf = data_directory.rstrip("/") + "/postgresql.auto.conf"
    staged, in_auto, elsewhere = {}, set(), {}
    for row in rows:
        name = row["name"].lower()
        staged[name] = row["setting"]
        if row["sourcefile"] == auto_conf:
            in_auto.add(name)
        else:
            elsewhere[name] = "%s line %s" % (row["sourcefile"], row["sourceline"])
    return staged, in_auto, elsewhere


def keep_system_actions(actions, in_auto, elsewhere, loaded, server_version_num):
    """(actions, warnings): the system actions ALTER SYSTEM can do, and why the others are left."""
    kept, warnings = [], []
    for action in actions:
        name = action[1]
        if action[0] == "reset" and name not in in_auto:
            warnings.append(
                "%s is set in %s; ALTER SYSTEM cannot remove it: delete that line by hand"
                % (name, elsewhere.get(name, "a configuration file"))
            )
            continue
        if action[0] == "reset" and loaded and name not in ps.SETTINGS and server_version_num < SYSTEM_ACCEPTS_UNKNOWN:
            warnings.append(
                "%s in postgresql.auto.conf is not a pgaudit setting and PostgreSQL %d refuses ALTER SYSTEM "
                "on it while pgaudit is loaded: delete that line by hand" % (name, server_version_num // 10000)
            )
            continue
        if action[0] == "reset" and name in elsewhere:
            warnings.append("%s is also set in %s, which applies once it is reset" % (name, elsewhere[name]))
        kept.append(action)
    return kept, warnings


def plan_server(server, staged):
    """The (name, before, value) changes of the server_settings; records each one's staged value."""
    actions = []
    for name, row in sorted(server.items()):
        before = row["staged"] = staged.get(name, row["running"])
        if not server_settings.same_value(before, row["value"], row["vartype"]):
            actions.append((name, before, row["value"]))
    return actions


def weakening_warnings(scopes, staged_log):
    """Warnings for a database or role pgaudit.log being set that logs fewer classes than the system value."""
    system = next((s for s in scopes if s.kind == "system"), None)
    system_log = system.desired.get("pgaudit.log", staged_log) if system else staged_log
    if not system_log:
        return []
    warnings = []
    for scope in scopes:
        for action in scope.actions:
            if scope.kind == "system" or action[0] != "set" or action[1] != "pgaudit.log":
                continue
            try:
                missing = ps.weakens(system_log, action[2])
            except ValueError:
                continue
            if missing:
                warnings.append(
                    "%s: pgaudit.log %r does not log %s, which the system value %r logs; it replaces the system "
                    "value for those sessions" % (scope.label, action[2], ", ".join(missing), system_log)
                )
    return warnings


def role_entries(scopes):
    """The settings given for roles, as settings_by_scope entries (for unreached_role_settings)."""
    return [
        dict(scope=scope.kind, target=scope.target, role=scope.role, database=scope.database, name=name, value=value)
        for scope in scopes
        if scope.role
        for name, value in scope.desired.items()
    ]


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
        old, new = before.setdefault("system", {}), after.setdefault("system", {})
        for name, row in server.items():
            old[name] = new[name] = row["staged"]
        for name, was, value in server_actions:
            changes.append(dict(scope="system", target=None, name=name, before=was, after=value))
            old[name], new[name] = was, value
        before["system"], after["system"] = dict(sorted(old.items())), dict(sorted(new.items()))
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


# ---------------------------------------------------------------------------------------------
# Reading and writing
# ---------------------------------------------------------------------------------------------


def missing_objects(session, scopes):
    """["database 'x' does not exist", ...]: each database and role the scopes name that the
    server does not have."""
    errors = []
    for kind in ("database", "role"):
        names = sorted({getattr(s, kind) for s in scopes if getattr(s, kind)})
        found = {r["name"] for r in session.query(EXISTING[kind], [names])} if names else set()
        errors.extend("%s %r does not exist" % (kind, name) for name in names if name not in found)
    return errors


def validate(session, params, facts):
    """(scopes, server): every scope and server setting checked against the server, or Refused."""
    scopes, errors = parse_scopes(params, facts["pgaudit_version"])
    errors.extend(missing_objects(session, scopes))
    requested = profile_server_settings(params.get("profile"), params["server_settings"])
    names, problems = server_setting_names(requested)
    errors.extend(problems)
    server = {}
    if names:
        rows = {r["name"]: r for r in session.query(SERVER_PARAMETERS, [sorted(names)])}
        server, problems = check_server_settings(requested, names, rows, facts["major"])
        errors.extend(problems)
    if errors:
        raise Refused(errors)
    return scopes, server


def plan(module, session, facts, scopes, server):
    """Fill each scope's current values and actions; returns the server-setting actions."""
    staged, in_auto, elsewhere = staged_values(session.query(STAGED), facts["data_directory"])
    facts["staged_log"] = staged.get("pgaudit.log")
    stored = {}
    for row in session.query(SCOPE_SETTINGS):
        stored[(row["datname"], row["rolname"])] = ps.parse_setconfig(row["setconfig"])
    for scope in scopes:
        if scope.kind == "system":
            current = staged
        else:
            current = stored.get((scope.database, None if scope.kind == "database" else scope.role), {})
        scope.current = {n: v for n, v in current.items() if ps.is_pgaudit_name(n)}
        scope.actions = ps.plan_scope(scope.current, scope.desired, remove_unlisted=module.params["remove_unlisted"])
        if scope.kind == "system":
            scope.actions, warnings = keep_system_actions(
                scope.actions, in_auto, elsewhere, bool(facts["known_pgaudit"]), facts["server_version_num"]
            )
            for warning in warnings:
                module.warn(warning)
    return plan_server(server, staged)


def unreached(module, session, scopes):
    """Warn about, and return, the listed role scopes whose role cannot log in."""
    entries = role_entries(scopes)
    roles = sorted({entry["role"] for entry in entries})
    if not roles:
        return []
    found = audit_facts.unreached_role_settings(entries, session.query(audit_facts.ROLE_LOGINS, dict(roles=roles)))
    for item in found:
        module.warn(audit_facts.unreached_message(item))
    return found


def apply_scopes(module, session, scopes):
    """Database and role scopes in one transaction: all or nothing."""
    scoped = [(scope, action) for scope in scopes if scope.kind != "system" for action in scope.actions]
    if not scoped:
        return
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


def apply_system(session, facts, scopes, server_actions):
    """ALTER SYSTEM (no transaction) for the system scope and the server settings, then a reload."""
    sql = postgres.sql
    system = next((s for s in scopes if s.kind == "system"), None)
    system_actions = list(system.actions) if system else []
    known = set(facts["known_pgaudit"])
    for action in system_actions:
        name = action[1]
        if name not in known and facts["server_version_num"] < SYSTEM_ACCEPTS_UNKNOWN:
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


def converge(module, session):
    """Read, validate, plan, warn, apply: the module's result."""
    facts = dict(postgres.server_facts(session), **session.query(FACTS)[0])
    scopes, server = validate(session, module.params, facts)
    server_actions = plan(module, session, facts, scopes, server)
    for warning in weakening_warnings(scopes, facts["staged_log"]):
        module.warn(warning)
    found = unreached(module, session, scopes)
    changes, diff = describe(scopes, server_actions, server)
    apply_scopes(module, session, scopes)
    apply_system(session, facts, scopes, server_actions)
    pending = pending_restart(server, server_actions)
    return dict(
        changed=bool(changes),
        changes=changes,
        restart_required=bool(pending),
        pending_restart=pending,
        pgaudit_version=facts["pgaudit_version"],
        unreached_role_settings=found,
        executed_queries=session.executed_queries,
        diff=diff,
    )


def refuse(module, problems):
    module.fail_json(
        msg="Nothing was changed: %d problem(s): %s" % (len(problems), "; ".join(problems)),
        changed=False,
        executed_queries=[],
    )


def run_names(module):
    """What can be checked of the task before pgaudit is loaded (its pgaudit.* parameters exist
    only then, so the settings cannot be planned yet): the scopes' shape and values, and that
    each database and role they name exists. audit_plan runs it so that a host whose scope
    names a missing database or role is refused before the preload and the restart, not after.
    Changes nothing; fails naming every problem."""
    session = postgres.open_session(module, autocommit=True)
    try:
        scopes, problems = parse_scopes(module.params, None)
        problems.extend(missing_objects(session, scopes))
    finally:
        session.close()
    if problems:
        refuse(module, problems)
    return dict(changed=False, executed_queries=session.executed_queries)


def run(module):
    """The pgaudit_settings module: returns its result, or fails naming every problem."""
    profile = module.params.get("profile")
    if profile in ps.PROFILE_ALIASES:
        module.deprecate(
            DEPRECATED_PROFILE % (profile, ps.PROFILE_ALIASES[profile]),
            version="0.2.0",
            collection_name="pgtrail.audit",
        )
    session = postgres.open_session(module, autocommit=True)
    try:
        result = converge(module, session)
    except Refused as exc:
        refuse(module, exc.problems)
    except postgres.psycopg.Error as exc:
        last = session.executed_queries[-1] if session.executed_queries else "a query"
        module.fail_json(
            msg="PostgreSQL refused %s: %s" % (last, str(exc).strip()), executed_queries=session.executed_queries
        )
    finally:
        session.close()
    if not module._diff:
        result.pop("diff")
    return result
