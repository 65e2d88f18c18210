# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The seed document's "what to audit", judged on one host's audit facts (pure; unit-tested).

The seed (audit-logging.md) lists six event categories, each with examples. :func:`judge` says
for each example whether the host records it -- ``covered``, ``partly`` or ``not_covered`` --
and by what: the server's connection, disconnection and error lines, a pgaudit class (with the
database and role values that drop it), object auditing, the trigger-based trail, or
application events written with ``log_event()``. A category is covered when every example is,
not covered when none is, and partly otherwise.

What records what:

* pgaudit's ``role`` class: CREATE/ALTER/DROP ROLE (passwords included, redacted), GRANT and
  REVOKE; ``ddl``: every other DDL, CREATE/ALTER/DROP POLICY and ALTER SYSTEM; ``misc_set``:
  SET ROLE and SET SESSION AUTHORIZATION; ``read``: SELECT and COPY ... TO; ``write``: INSERT,
  UPDATE, DELETE, TRUNCATE, COPY ... FROM.
* the server log: a failed login is a FATAL line, a refused statement (permission denied) an
  ERROR line, written when ``log_min_messages`` is at or below that level; the refused
  statement's text follows when ``log_min_error_statement`` is at or below ``error``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgtrail.audit.plugins.module_utils import pgaudit_settings as ps
from ansible_collections.pgtrail.audit.plugins.plugin_utils import compliance

COVERED = "covered"
PARTLY = "partly"
NOT_COVERED = "not_covered"
VERDICTS = (COVERED, PARTLY, NOT_COVERED)

# PostgreSQL's message levels, least severe first, as log_min_messages and
# log_min_error_statement order them.
SEVERITY = ("debug5", "debug4", "debug3", "debug2", "debug1", "info", "notice", "warning", "error", "log", "fatal")
SEVERITY += ("panic",)


def _logs(setting, level):
    """Whether a log_min_* value lets a message of ``level`` into the log."""
    value = str(setting or "").strip().lower()
    if value not in SEVERITY:
        return None
    return SEVERITY.index(value) <= SEVERITY.index(level)


def _get(facts, *path):
    value = facts
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _system_classes(facts):
    """(classes the system pgaudit.log logs, why none are) -- nothing when pgaudit is not loaded."""
    if not compliance._loaded(facts):
        return frozenset(), "pgaudit is not loaded (not in the running shared_preload_libraries)"
    value = compliance._pgaudit_setting(facts, "pgaudit.log")
    try:
        return ps.effective_classes(value), "pgaudit.log = '%s'" % value
    except ValueError:
        return frozenset(), "pgaudit.log = '%s' cannot be read" % value


def _class(facts, name, what):
    """(verdict, by) of a pgaudit class: covered when the system logs it and no database or role
    value drops it, partly when some do."""
    classes, value = _system_classes(facts)
    if name not in classes:
        return NOT_COVERED, "%s does not log the %s class (%s)" % (value, name, what)
    dropping = [
        "%s %s" % (w.get("scope"), w.get("target"))
        for w in _get(facts, "weakening") or []
        if name in (w.get("classes_dropped") or []) or w.get("error")
    ]
    if dropping:
        return PARTLY, "pgaudit's %s class (%s), except in sessions of %s, whose value drops it" % (
            name,
            what,
            ", ".join(dropping),
        )
    return COVERED, "pgaudit's %s class (%s)" % (name, what)


def _setting_on(facts, name, what):
    value = _get(facts, "logging", name)
    if value is None:
        return NOT_COVERED, "%s was not read" % name
    if compliance.connections_logged(value):
        return COVERED, "%s = '%s' (%s)" % (name, value, what)
    return NOT_COVERED, "%s = '%s': %s are not logged" % (name, value, what)


def _server_lines(facts, level, what):
    value = _get(facts, "logging", "log_min_messages")
    logged = _logs(value, level)
    if logged:
        return COVERED, "the server log's %s lines (%s; log_min_messages = '%s')" % (level.upper(), what, value)
    if logged is None:
        return NOT_COVERED, "log_min_messages = '%s' was not read" % value
    return NOT_COVERED, "log_min_messages = '%s' keeps %s lines (%s) out of the log" % (value, level.upper(), what)


def _failed_login(facts):
    return _server_lines(facts, "fatal", "password authentication failed, no pg_hba.conf entry")


def _permission_denied(facts):
    verdict, by = _server_lines(facts, "error", "permission denied")
    if verdict != COVERED:
        return verdict, by
    statement = _get(facts, "logging", "log_min_error_statement")
    if _logs(statement, "error"):
        return COVERED, "%s, with the refused statement (log_min_error_statement = '%s')" % (by, statement)
    return PARTLY, "%s, without the refused statement (log_min_error_statement = '%s')" % (by, statement)


def _either(*judged):
    """The best of several ways to record one thing, naming every way that records it."""
    best = min(judged, key=lambda j: VERDICTS.index(j[0]))
    if best[0] == NOT_COVERED:
        return NOT_COVERED, "; ".join(by for _v, by in judged)
    return best[0], "; ".join(by for verdict, by in judged if verdict != NOT_COVERED)


def _all(*judged):
    """Several things that together record one example: the weakest decides."""
    worst = max(judged, key=lambda j: VERDICTS.index(j[0]))
    return worst[0], "; ".join(by for _v, by in judged)


def _object_audit(facts, privilege):
    role = _get(facts, "object_audit", "role")
    tables = [
        "%s: %s" % (db, entry["table"])
        for db, entries in sorted((_get(facts, "object_audit", "databases") or {}).items())
        for entry in entries
        if privilege in entry.get("privileges", ())
    ]
    if not compliance._loaded(facts) or not role or not tables:
        return NOT_COVERED, "no object auditing of %s (pgaudit.role %s)" % (
            privilege,
            "'%s' holds it on no table" % role if role else "is not set",
        )
    return COVERED, "object auditing of %s on %s (pgaudit.role = '%s')" % (privilege, ", ".join(tables), role)


def _trail(facts):
    tables = [
        "%s: %s" % (db, t["table"])
        for db, trail in sorted((_get(facts, "trail", "databases") or {}).items())
        if (trail or {}).get("status") == "present"
        for t in trail.get("audited") or []
        if t.get("present", True) and t.get("enable_always") is not False
    ]
    if not tables:
        return NOT_COVERED, "no table is under the trigger-based trail"
    return COVERED, "the trigger-based trail on %s" % ", ".join(tables)


def _events(facts, what):
    found = sorted((_get(facts, "application_events", "databases") or {}).items())
    callers = ["%s: %s" % (db, ", ".join(e["callers"])) for db, e in found if e.get("callers")]
    if callers:
        return COVERED, "application events recorded with log_event() (%s), callable by %s" % (what, "; ".join(callers))
    if found:
        return PARTLY, "log_event() exists (%s) but no login role other than superusers may call it (%s)" % (
            ", ".join(db for db, _e in found),
            what,
        )
    return NOT_COVERED, "no database read has the trail's log_event() for application events (%s)" % what


# The seed's categories, in its order: (id, name, [(example, judge)]).
CATEGORIES = (
    (
        "authentication",
        "Authentication",
        (
            ("login", lambda f: _setting_on(f, "log_connections", "connections")),
            ("logout", lambda f: _setting_on(f, "log_disconnections", "disconnections")),
            ("failed login", _failed_login),
            ("password change", lambda f: _class(f, "role", "ALTER ROLE ... PASSWORD, redacted")),
        ),
    ),
    (
        "authorization",
        "Authorization",
        (
            ("permission denied", _permission_denied),
            ("role change", lambda f: _class(f, "role", "GRANT/REVOKE, ALTER ROLE")),
            (
                "privilege escalation",
                lambda f: _all(
                    _class(f, "role", "GRANT, ALTER ROLE ... SUPERUSER"),
                    _class(f, "misc_set", "SET ROLE, SET SESSION AUTHORIZATION"),
                ),
            ),
        ),
    ),
    (
        "data_access",
        "Data access",
        (
            (
                "sensitive data read",
                lambda f: _either(_class(f, "read", "SELECT"), _object_audit(f, "SELECT")),
            ),
            ("bulk export", lambda f: _either(_class(f, "read", "COPY ... TO"), _object_audit(f, "SELECT"))),
            ("API key usage", lambda f: _events(f, "the application's key checks")),
        ),
    ),
    (
        "data_modification",
        "Data modification",
        (
            (
                "create, update, delete on sensitive tables",
                lambda f: _either(
                    _class(f, "write", "INSERT, UPDATE, DELETE, TRUNCATE, COPY ... FROM"),
                    _trail(f),
                ),
            ),
        ),
    ),
    (
        "configuration",
        "Configuration changes",
        (
            ("RLS policy change", lambda f: _class(f, "ddl", "CREATE/ALTER/DROP POLICY, ... ROW LEVEL SECURITY")),
            ("role assignment", lambda f: _class(f, "role", "GRANT role TO role")),
            ("schema change", lambda f: _class(f, "ddl", "CREATE, ALTER, DROP")),
            ("server settings", lambda f: _class(f, "ddl", "ALTER SYSTEM")),
        ),
    ),
    (
        "administrative",
        "Administrative actions",
        (
            ("user creation", lambda f: _class(f, "role", "CREATE ROLE")),
            ("JIT grant", lambda f: _class(f, "role", "GRANT, REVOKE")),
            ("service key usage", lambda f: _events(f, "the application's privileged calls")),
        ),
    ),
)


def judge(facts):
    """[{id, category, verdict, controls, examples: [{example, verdict, by}]}], in the seed's order."""
    if not isinstance(facts, dict):
        raise ValueError("judge expects the facts audit_info returns (a dict), got %r" % (type(facts).__name__,))
    matrix = []
    for category_id, name, examples in CATEGORIES:
        judged = []
        for example, check in examples:
            verdict, by = check(facts)
            judged.append(dict(example=example, verdict=verdict, by=by))
        verdicts = {j["verdict"] for j in judged}
        if verdicts == {COVERED}:
            verdict = COVERED
        elif verdicts == {NOT_COVERED}:
            verdict = NOT_COVERED
        else:
            verdict = PARTLY
        check_id = "seed-" + category_id.replace("_", "-")
        matrix.append(
            dict(
                id=check_id,
                category=name,
                verdict=verdict,
                controls=compliance.controls_of(check_id),
                examples=judged,
            )
        )
    return matrix
