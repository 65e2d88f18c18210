# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The canary: proof that auditing works now, not only that it is configured.

A dedicated login role (least rights: LOGIN, nothing else but its own schema's table and, where
there is a trail, log_event) opens real sessions and runs known statements carrying a fresh
marker; the module then looks for their AUDIT lines in the server log it finds through the
server's own settings, for the canary's trail row and for its application event.

Each declared scope gets a session of that scope: the system scope (a database no database scope
names), each database scope, and each role scope, for which the canary role borrows, for that
session only, the pgaudit settings the catalog holds for the role (pgaudit never inherits them,
so a session of the canary with the same rows in pg_db_role_setting gets exactly that role's
values). The expected lines come from the inventory (``pgaudit_scope``), so a server whose
pgaudit.log was turned off behind the inventory's back fails.

The canary's traffic is recognisable everywhere: its role, application_name ``pgtrail-canary``,
its own schema and table; the trail's rows of the canary carry all three.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import secrets
import time

from ansible_collections.pgtrail.audit.plugins.module_utils import pgaudit_settings as settings_lib
from ansible_collections.pgtrail.audit.plugins.module_utils import postgres
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail import names

try:
    from psycopg import sql
except ImportError:  # pragma: no cover - postgres.require_psycopg reports it
    sql = None

APPLICATION_NAME = "pgtrail-canary"
TABLE = "beat"
# The statement of each class the canary can run with its few rights; {marker} is a fresh word.
PROBES = (
    ("write", "WRITE", "INSERT INTO {table} (note) VALUES ({marker})"),
    ("read", "READ", "SELECT count(*) FROM {table} WHERE note = {marker}"),
    ("ddl", "DDL", "CREATE TEMPORARY TABLE {temp} (id integer)"),
    ("function", "FUNCTION", "DO $pgtrail$ BEGIN PERFORM {marker}; END $pgtrail$"),
)
# How long to wait for a log line or a trail row before calling it missing.
WAIT_SECONDS = 5.0


# ---- pure planning (unit-tested) -------------------------------------------------------------


def _log_of(values):
    return (values or {}).get("pgaudit.log")


def effective_log(scope, database, role=None):
    """The pgaudit.log a session of ``role`` (None: a login with no settings of its own) in
    ``database`` gets under the declared scope, and where it comes from: the most specific of
    role-in-database, role, database and system, as PostgreSQL applies them."""
    roles = scope.get("roles") or {}
    if role is not None and role in roles:
        values = roles[role]
        where = values.get("database")
        if _log_of(values) is not None and (where is None or where == database):
            return _log_of(values), "role %s%s" % (role, " in database %s" % where if where else "")
    db_values = (scope.get("databases") or {}).get(database)
    if _log_of(db_values) is not None:
        return _log_of(db_values), "database %s" % database
    return _log_of(scope.get("system")) or "none", "system"


def plan_sessions(scope, home_database):
    """The canary's sessions, one per declared scope: [{scope, database, role, expect, source}].

    ``role`` is the role whose settings the canary borrows (None for the system and database
    scopes); ``expect`` the pgaudit.log the session should get."""
    sessions = [dict(scope="system", database=home_database, role=None)]
    for database in sorted(scope.get("databases") or {}):
        sessions.append(dict(scope="database:%s" % database, database=database, role=None))
    for role, values in sorted((scope.get("roles") or {}).items()):
        sessions.append(dict(scope="role:%s" % role, database=values.get("database") or home_database, role=role))
    for session in sessions:
        expect, source = effective_log(scope, session["database"], session["role"])
        session.update(expect=settings_lib.normalize_log_classes(expect), source=source)
    return sessions


def expected_classes(expect):
    """{probe class: whether its AUDIT line should appear} for a pgaudit.log value."""
    logged = settings_lib.effective_classes(expect)
    return dict((name, name in logged) for name, _label, _statement in PROBES)


def audit_line_matches(line, label, marker):
    """Whether a server log line is the SESSION AUDIT line of class ``label`` holding ``marker``."""
    return "AUDIT: SESSION," in line and ",%s," % label in line and marker in line


def stderr_target(link):
    """What the postmaster's stderr (a /proc/PID/fd/2 link) says about where the log goes:
    (path or None, problem or None, kind)."""
    if link.endswith(" (deleted)"):
        return (
            None,
            "the server writes its log to %s, which was deleted: no readable file receives it" % link[:-10],
            "file",
        )
    if link == "/dev/null":
        return None, "the server writes its log to /dev/null", "file"
    if link.startswith(("socket:", "pipe:")):
        return None, None, "journald"
    return link, None, "file"


# ---- on the host ----------------------------------------------------------------------------

SETTINGS = """
SELECT name, setting FROM pg_catalog.pg_settings
 WHERE name IN ('log_destination', 'logging_collector', 'log_directory', 'data_directory')
"""


def find_log(session, log_file=None):
    """{source, path, unit, problems, settings} for the server's log, found from its settings: the
    collector's current file, else where the postmaster's stderr goes (a file, or the journal)."""
    settings = dict((row["name"], row["setting"]) for row in session.query(SETTINGS))
    found = dict(source="file", path=log_file, unit=None, problems=[], settings=settings)
    if log_file:
        return found
    destinations = [d.strip() for d in settings["log_destination"].split(",")]
    data_directory = settings["data_directory"]
    if settings["logging_collector"] == "on":
        directory = os.path.join(data_directory, settings["log_directory"])
        if not os.access(directory, os.W_OK | os.X_OK):
            found["problems"].append(
                "log_directory %s is not writable by the server's account: the log cannot be opened there" % directory
            )
        for destination in ("stderr", "csvlog", "jsonlog"):
            if destination in destinations:
                current = session.scalar("SELECT pg_catalog.pg_current_logfile(%s)", [destination])
                if current:
                    found["path"] = os.path.join(data_directory, current)
                    return found
    elif "stderr" in destinations:
        with open(os.path.join(data_directory, "postmaster.pid")) as handle:
            pid = handle.readline().strip()
        path, problem, kind = stderr_target(os.readlink("/proc/%s/fd/2" % pid))
        if problem:
            found["problems"].append(problem)
        found.update(path=path, source=kind if (path or kind == "journald") else None)
        if kind == "journald":
            found["unit"] = _systemd_unit(pid)
        return found
    if not found["problems"]:
        found["problems"].append(
            "log_destination %r with logging_collector %s leaves no log the canary can read (give log_file)"
            % (settings["log_destination"], settings["logging_collector"])
        )
    found["source"] = None
    return found


def _systemd_unit(pid):
    with open("/proc/%s/cgroup" % pid) as handle:
        for line in handle:
            match = re.search(r"/([^/]+\.service)", line)
            if match:
                return match.group(1)
    return None


class LogReader:
    """Reads what the server logged after the reader was made."""

    def __init__(self, module, found):
        self.module = module
        self.found = found
        self.offset = 0
        self.since = time.strftime("%Y-%m-%d %H:%M:%S")
        if found["source"] == "file" and found["path"]:
            try:
                self.offset = os.path.getsize(found["path"])
            except OSError as exc:
                found["problems"].append("the server log %s cannot be read: %s" % (found["path"], exc))
                found["source"] = None

    def text(self):
        if self.found["source"] == "file":
            with open(self.found["path"], "rb") as handle:
                handle.seek(self.offset)
                return handle.read().decode("utf-8", "replace")
        if self.found["source"] == "journald":
            argv = ["journalctl", "--no-pager", "-o", "cat", "--since", self.since]
            argv += ["-u", self.found["unit"]] if self.found["unit"] else []
            rc, out, err = self.module.run_command(argv)
            if rc != 0:
                self.found["problems"].append("the journal cannot be read: %s" % err.strip())
                self.found["source"] = None
            return out
        return ""


def _canary_connect(module, database, role, password):
    """A session of the canary role itself, with a password (peer authentication would need an
    operating-system account of its name): over the socket, else TCP to the server's address."""
    params = dict(module.params, login_user=role, login_password=password, connect_params={})
    hosts = [module.params["canary_host"]] if module.params["canary_host"] else ["", "127.0.0.1"]
    errors = []
    for host in hosts:
        kwargs = postgres.connection_kwargs(dict(params, login_host=host), database)
        kwargs["application_name"] = APPLICATION_NAME
        try:
            return postgres.psycopg.connect(autocommit=True, **kwargs), None
        except postgres.psycopg.Error as exc:
            errors.append("%s: %s" % (host or "the socket", str(exc).strip()))
    return None, (
        "the canary role %s cannot log in to %s (pg_hba.conf must let it in with a password, "
        "over the socket or 127.0.0.1, or give canary_host): %s" % (role, database, "; ".join(errors))
    )


def ensure_role(session, role):
    """Create the canary's login role with the least rights, once; returns whether it was made."""
    if session.scalar("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = %s", [role]):
        return False
    session.change(
        sql.SQL(
            "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS "
            "CONNECTION LIMIT 3"
        ).format(sql.Identifier(role))
    )
    return True


def ensure_table(session, role, schema):
    """The canary's own schema and table in this database, and the role's rights on them only."""
    made = not session.scalar(
        "SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s",
        [schema, TABLE],
    )
    table = sql.Identifier(schema, TABLE)
    if made:
        session.change(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        session.change(
            sql.SQL(
                "CREATE TABLE {} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
                "at timestamptz NOT NULL DEFAULT pg_catalog.now(), note text NOT NULL)"
            ).format(table)
        )
    granted = not made and session.scalar(
        "SELECT pg_catalog.has_schema_privilege(%s, %s, 'USAGE') "
        "AND pg_catalog.has_table_privilege(%s, pg_catalog.format('%%I.%%I', %s::text, %s::text), 'SELECT, INSERT')",
        [role, schema, role, schema, TABLE],
    )
    if not granted:
        session.change(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), sql.Identifier(role)))
        session.change(sql.SQL("GRANT SELECT, INSERT ON {} TO {}").format(table, sql.Identifier(role)))
    return made or not granted


# A role's own settings, per database (NULL: in every database).
ROLE_SETTINGS = (
    "SELECT d.datname::text AS database, s.setconfig FROM pg_catalog.pg_db_role_setting s "
    "JOIN pg_catalog.pg_roles r ON r.oid = s.setrole "
    "LEFT JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase WHERE r.rolname = %s"
)


def _pgaudit_settings_of(session, role):
    """[(database or None, name, value)] of the pgaudit settings the catalog holds for ``role``."""
    return [
        (row["database"], name, value)
        for row in session.query(ROLE_SETTINGS, [role])
        for name, value in settings_lib.parse_setconfig(row["setconfig"]).items()
        if settings_lib.is_pgaudit_name(name)
    ]


def _borrow(session, role, donor):
    """Give the canary role exactly the pgaudit settings the catalog holds for ``donor`` (None:
    none at all), per database, so its next session gets the donor's values."""
    for database, name, _value in _pgaudit_settings_of(session, role):
        session.change(_alter_role(role, database, sql.SQL("RESET {}").format(sql.Identifier(*name.split(".")))))
    if donor is None:
        return
    for database, name, value in _pgaudit_settings_of(session, donor):
        statement = sql.SQL("SET {} = {}").format(sql.Identifier(*name.split(".")), sql.Literal(value))
        session.change(_alter_role(role, database, statement))


def _alter_role(role, database, action):
    if database:
        return sql.SQL("ALTER ROLE {} IN DATABASE {} {}").format(sql.Identifier(role), sql.Identifier(database), action)
    return sql.SQL("ALTER ROLE {} {}").format(sql.Identifier(role), action)


def _set_password(session, role, password):
    """A fresh password for this run only, sent as libpq's SCRAM verifier: the cleartext never
    reaches the server or its log."""
    verifier = session.conn.pgconn.encrypt_password(password.encode(), role.encode(), None).decode()
    session.change(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(verifier)))


def _drop_password(session, role):
    session.change(sql.SQL("ALTER ROLE {} PASSWORD NULL").format(sql.Identifier(role)))


def _wait(probe, seconds=WAIT_SECONDS):
    """Poll ``probe()`` until it returns something true or the time is up; (value, seconds)."""
    started = time.monotonic()
    while True:
        value = probe()
        elapsed = time.monotonic() - started
        if value or elapsed >= seconds:
            return value, round(elapsed, 3)
        time.sleep(0.1)


def run_session(module, session, planned, schema, password):
    """One canary session of a declared scope: run every probe, then find its AUDIT lines."""
    role = module.params["role"]
    result = dict(planned, problems=[], probes=[])
    _borrow(session, role, planned["role"])
    conn, error = _canary_connect(module, planned["database"], role, password)
    if error:
        result["problems"].append(error)
        return result
    wanted = expected_classes(planned["expect"])
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW pgaudit.log")
            result["session_log"] = cur.fetchone()[0]
            for name, label, statement in PROBES:
                marker = "pgtrail_canary_" + secrets.token_hex(6)
                cur.execute(
                    sql.SQL(statement).format(
                        table=sql.Identifier(schema, TABLE), marker=sql.Literal(marker), temp=sql.Identifier(marker)
                    )
                )
                result["probes"].append(
                    dict(cls=name, label=label, marker=marker, expected=wanted[name], at=time.monotonic())
                )
    finally:
        conn.close()
        _borrow(session, role, None)
    result["ok"] = not result["problems"]
    return result


def judge_session(result, text_of):
    """Look for each probe's AUDIT line; a problem for every line missing or present against the
    declared scope."""
    # One wait per session: the lines of its statements arrive together.
    deadline = time.monotonic() + WAIT_SECONDS
    for probe in result["probes"]:
        found, _seconds = _wait(
            lambda probe=probe: any(
                audit_line_matches(line, probe["label"], probe["marker"]) for line in text_of().splitlines()
            ),
            max(deadline - time.monotonic(), 0.2) if probe["expected"] else 0.2,
        )
        # From the statement to its line in the log.
        probe.update(found=bool(found), seconds=round(time.monotonic() - probe.pop("at"), 3) if found else None)
        if probe["expected"] and not found:
            result["problems"].append(
                "%s: no AUDIT line for %s (%s) in database %s within %.0f s; the session's pgaudit.log is %r, "
                "declared %r (from %s)"
                % (
                    result["scope"],
                    probe["label"],
                    probe["cls"],
                    result["database"],
                    WAIT_SECONDS,
                    result.get("session_log"),
                    result["expect"],
                    result["source"],
                )
            )
        elif found and not probe["expected"]:
            result["problems"].append(
                "%s: an AUDIT line for %s in database %s, which the declared pgaudit.log %r (from %s) does not log; "
                "the session's pgaudit.log is %r"
                % (
                    result["scope"],
                    probe["label"],
                    result["database"],
                    result["expect"],
                    result["source"],
                    result.get("session_log"),
                )
            )
    result["ok"] = not result["problems"]
    if result["ok"] and not any(p["expected"] for p in result["probes"]):
        result["note"] = "no AUDIT line, as declared (pgaudit.log %r from %s)" % (result["expect"], result["source"])
    return result


TRAIL_ROW = (
    "SELECT id FROM {log} WHERE kind = 'row' AND schema_name = %s AND table_name = %s AND new_data->>'note' = %s"
)
EVENT_ROW = "SELECT id FROM {log} WHERE kind = 'event' AND id = %s AND metadata->>'marker' = %s"
# Every audited table of the registry still has its triggers (the row trigger, or in statement
# mode the statement triggers), enabled ALWAYS.
MISSING_TRIGGERS = """
SELECT r.schema_name, r.table_name, r.mode,
       (SELECT pg_catalog.array_agg(t.tgname::text ORDER BY t.tgname) FROM pg_catalog.pg_trigger t
         WHERE t.tgrelid = r.relid AND t.tgname LIKE 'pgtrail\\_audit\\_%%' AND t.tgenabled = 'A') AS triggers
  FROM {registry} r
"""


def check_trail(module, session, database, trail_schema, schema, password):
    """As the canary: a row into its table (the trail's trigger logs it) and an application event;
    then find both in the log, and check every audited table still has its triggers."""
    role = module.params["role"]
    log = sql.Identifier(trail_schema, names.LOG)
    result = dict(database=database, problems=[])
    for row in session.query(sql.SQL(MISSING_TRIGGERS).format(registry=sql.Identifier(trail_schema, names.REGISTRY))):
        have = set(row["triggers"] or [])
        want = {names.ROW_TRIGGER} if row["mode"] == "row" else set(t[0] for t in names.STATEMENT_TRIGGERS)
        if not want <= have:
            result["problems"].append(
                "trail of %s: the table %s.%s has lost its trigger(s) %s (or they are not ENABLE ALWAYS)"
                % (database, row["schema_name"], row["table_name"], ", ".join(sorted(want - have)))
            )
    conn, error = _canary_connect(module, database, role, password)
    if error:
        result["problems"].append(error)
        return result
    marker = "pgtrail_canary_" + secrets.token_hex(6)
    try:
        with conn.cursor() as cur:
            started = time.monotonic()
            cur.execute(sql.SQL("INSERT INTO {} (note) VALUES (%s)").format(sql.Identifier(schema, TABLE)), [marker])
            row, _seconds = _wait(lambda: session.query(sql.SQL(TRAIL_ROW).format(log=log), [schema, TABLE, marker]))
            result.update(row_id=row[0]["id"] if row else None, row_seconds=round(time.monotonic() - started, 3))
            if not row:
                result["problems"].append(
                    "trail of %s: no log row for the canary's INSERT into %s.%s (is the table under the trail, "
                    "with its trigger %s?)" % (database, schema, TABLE, names.ROW_TRIGGER)
                )
            started = time.monotonic()
            try:
                cur.execute(
                    sql.SQL("SELECT {}(%s, %s, true, pg_catalog.jsonb_build_object('marker', %s::text))").format(
                        sql.Identifier(trail_schema, names.EVENT_FUNCTION)
                    ),
                    ["CANARY", APPLICATION_NAME, marker],
                )
                event_id = cur.fetchone()[0]
            except postgres.psycopg.Error as exc:
                event_id = None
                result["problems"].append(
                    "trail of %s: log_event() refused the canary: %s" % (database, str(exc).strip())
                )
            if event_id is not None:
                event, _seconds = _wait(lambda: session.query(sql.SQL(EVENT_ROW).format(log=log), [event_id, marker]))
                result.update(event_id=event_id, event_seconds=round(time.monotonic() - started, 3))
                if not event:
                    result["problems"].append(
                        "trail of %s: the canary's event %s is not in the log" % (database, event_id)
                    )
    finally:
        conn.close()
    result["ok"] = not result["problems"]
    return result


def argument_spec():
    """The canary module's options, the connection's among them."""
    return postgres.connection_argument_spec(
        role=dict(type="str", default="pgtrail_canary"),
        schema=dict(type="str", default="pgtrail_canary"),
        trail_schema=dict(type="str", default="audit"),
        scope=dict(type="dict", default={}),
        home_database=dict(type="str", default="postgres"),
        databases=dict(type="list", elements="str", default=[]),
        trail_databases=dict(type="list", elements="str", default=[]),
        setup_only=dict(type="bool", default=False),
        read_log=dict(type="bool", default=True),
        log_file=dict(type="path"),
        canary_host=dict(type="str", default=""),
    )


def run(module):
    """The module's whole job; returns its result (the playbook judges ``ok``)."""
    params = module.params
    role, schema, trail_schema = params["role"], params["schema"], params["trail_schema"]
    session = postgres.open_session(module, autocommit=True)
    sessions_by_db = {}
    result = dict(changed=False, ok=True, problems=[], sessions=[], trail=[], log=None, ready=[])
    try:
        session.query("SELECT pg_catalog.set_config('application_name', %s, false)", [APPLICATION_NAME])
        if postgres.server_facts(session)["in_recovery"]:
            result["skipped_reason"] = "a standby takes no writes: the canary runs on primaries"
            return result
        planned = [] if params["setup_only"] else plan_sessions(params["scope"] or {}, params["home_database"])
        wanted = list(params["databases"]) + list(params["trail_databases"]) + [p["database"] for p in planned]
        existing = set(
            row["datname"]
            for row in session.query("SELECT datname::text FROM pg_catalog.pg_database WHERE datallowconn")
        )
        databases = []
        for database in wanted:
            if database not in existing:
                result["problems"].append("database %s does not exist or takes no connections" % database)
            elif database not in databases:
                databases.append(database)
        result["changed"] = ensure_role(session, role)
        if module.check_mode and result["changed"]:
            result["skipped_reason"] = "check mode: the canary role %s is not there yet" % role
            return result
        result["ready"] = []
        for database in databases:
            sessions_by_db[database] = db_session = postgres.open_session(module, database, autocommit=True)
            made = ensure_table(db_session, role, schema)
            result["changed"] = made or result["changed"]
            if not (made and module.check_mode):
                result["ready"].append(database)
        if params["setup_only"] or module.check_mode:
            if module.check_mode:
                result["skipped_reason"] = "check mode: the canary writes rows, so it does not run"
            return result

        found = find_log(session, params["log_file"]) if params["read_log"] else dict(source=None, problems=[])
        reader = LogReader(module, found)
        result["problems"].extend(found["problems"])
        password = secrets.token_urlsafe(24)
        _set_password(session, role, password)
        try:
            for plan in planned:
                if plan["database"] not in sessions_by_db:
                    continue
                outcome = run_session(module, session, plan, schema, password)
                if params["read_log"] and found["source"]:
                    judge_session(outcome, reader.text)
                result["sessions"].append(outcome)
            for database in params["trail_databases"]:
                if database in sessions_by_db:
                    result["trail"].append(
                        check_trail(module, sessions_by_db[database], database, trail_schema, schema, password)
                    )
        finally:
            _drop_password(session, role)
            _borrow(session, role, None)
        result["log"] = dict((key, found.get(key)) for key in ("source", "path", "unit", "settings"))
        for item in result["sessions"] + result["trail"]:
            result["problems"].extend(item["problems"])
    finally:
        for db_session in sessions_by_db.values():
            db_session.close()
        session.close()
    result["ok"] = not result["problems"]
    return result
