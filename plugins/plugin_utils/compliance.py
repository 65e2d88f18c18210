# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compliance checks over one host's audit facts (pure; unit-tested with hand-written facts).

``evaluate(facts, standards)`` takes what ``pgtrail.audit.audit_info`` returns and gives,
per check, ``{id, title, standard, status, reason}``: ``status`` is ``pass``, ``fail`` or
``not_applicable`` and ``reason`` always says why, with the values found, so an auditor can
read the verdict without the facts beside it.

The checks:

What a standard asks of pgaudit (classes and values) is read from
``pgaudit_settings.STANDARDS``, the table the profiles ``cis`` and ``stig`` are made of.

* CIS PostgreSQL benchmark: 3.2 (pgaudit preloaded, ``pgaudit.log`` with ddl and write),
  3.1.20/3.1.21 (log_connections/log_disconnections; PostgreSQL 18's list-valued
  log_connections counts as on unless empty or off), 3.1.24 (log_line_prefix), 3.1.25
  (log_statement not none), 3.1.26 (log_timezone UTC) and 4.8 (set_user installed).
* DISA STIG (PostgreSQL 9.x and the Crunchy PostgreSQL 16 STIG): classes ddl, role, read,
  write; log_catalog on; log_level log; log_parameter on; log_statement_once off; pgaudit
  preloaded; log_line_prefix with time, user, database and client.
* pgtrail: settings that conflict with auditing (log_statement or log_min_duration_statement
  = 0 writing cleartext passwords, database or role values that weaken the system classes, a
  configuration waiting for a restart), the pgaudit extension in every database, the audit
  trail's triggers ENABLE ALWAYS, a log nobody but its owner can rewrite, ``pgaudit.*`` that
  only superusers can set, and a hash chain that verifies.

CIS 3.1.25 and the password check cannot both pass: any log_statement but ``none`` logs the
text of CREATE/ALTER ROLE ... PASSWORD. The report shows both, which is the point: pgaudit's
DDL lines cover what 3.1.25 asks for, with the passwords redacted.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.pgtrail.audit.plugins.module_utils import pgaudit_settings as ps

PASS = "pass"
FAIL = "fail"
NOT_APPLICABLE = "not_applicable"
STATUSES = (PASS, FAIL, NOT_APPLICABLE)
STANDARDS = ("CIS", "STIG", "pgtrail")

# Zero offset, no daylight saving time: what "UTC" means for a log's time stamps.
UTC_ZONES = frozenset(
    name.lower()
    for name in (
        "UTC",
        "Etc/UTC",
        "UCT",
        "Etc/UCT",
        "Universal",
        "Etc/Universal",
        "Zulu",
        "Etc/Zulu",
        "GMT",
        "Etc/GMT",
        "GMT0",
        "Etc/GMT0",
        "GMT+0",
        "Etc/GMT+0",
        "GMT-0",
        "Etc/GMT-0",
        "Greenwich",
        "Etc/Greenwich",
    )
)

# log_line_prefix escapes: what each item of a check needs, and the escapes that satisfy it.
PREFIX_ITEMS = {
    "time": ("m", "t"),
    "pid": ("p",),
    "database": ("d",),
    "user": ("u",),
    "application": ("a",),
    "client": ("h", "r"),
}
CIS_PREFIX = ("time", "pid", "database", "user", "application", "client")
STIG_PREFIX = ("time", "user", "database", "client")
_ESCAPE = re.compile(r"%(-?\d+)?(.)")

CIS_CLASSES = ps.STANDARDS["cis"]["classes"]
STIG_CLASSES = ps.STANDARDS["stig"]["classes"]
# log_statement values that put the text of CREATE/ALTER ROLE ... PASSWORD in the log.
PASSWORD_LEAKING = ("ddl", "mod", "all")


# ---------------------------------------------------------------------------------------------
# Reading the facts
# ---------------------------------------------------------------------------------------------


def _get(facts, *path, **kwargs):
    value = facts
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return kwargs.get("default")
        value = value[key]
    return value


def _loaded(facts):
    running = _get(facts, "preload", "pgaudit_running")
    if running is None:
        running = bool(_get(facts, "pgaudit", "loaded"))
    return running


def _staged(facts):
    return bool(_get(facts, "preload", "pgaudit_staged"))


def _pgaudit_setting(facts, name):
    """The running value of a pgaudit setting (its default when pgaudit is loaded but does not list it)."""
    settings = _get(facts, "pgaudit", "settings", default={}) or {}
    value = settings.get(name)
    if value is None and _loaded(facts):
        value = ps.SETTINGS[name]["default"]
    return value


def _logging(facts, name):
    return _get(facts, "logging", name)


def _quote(value):
    return "'%s'" % value if value is not None else "unset"


def _join(items):
    return ", ".join(items)


def prefix_escapes(prefix):
    """The set of escape letters in a log_line_prefix ('%m [%p] %q%u@%d ' -> {m, p, q, u, d}).

    ``%%`` is a literal percent sign; a padding width (``%-10u``) is allowed, as PostgreSQL does.
    """
    found = set()
    for match in _ESCAPE.finditer(prefix or ""):
        if match.group(2) != "%":
            found.add(match.group(2))
    return found


def missing_prefix_items(prefix, items):
    """The items (time, pid, ...) that a log_line_prefix lacks, in the order asked."""
    have = prefix_escapes(prefix)
    return [item for item in items if not have.intersection(PREFIX_ITEMS[item])]


def _describe_item(item):
    return "%s (%s)" % (item, " or ".join("%" + letter for letter in PREFIX_ITEMS[item]))


def connections_logged(value):
    """Whether a log_connections value logs connections: a boolean, or on PostgreSQL 18 a list
    of aspects (``receipt, authentication``) where only an empty list means off."""
    if value is None:
        return False
    parsed = ps.parse_bool(value)
    if parsed is not None:
        return parsed
    return bool(str(value).strip())


def _not_loaded_reason(facts):
    if _staged(facts):
        return "pgaudit is staged in shared_preload_libraries but not running: restart the server to load it"
    return "pgaudit is not in the running shared_preload_libraries"


# ---------------------------------------------------------------------------------------------
# The checks: each takes the facts and returns (status, reason)
# ---------------------------------------------------------------------------------------------


def _classes_check(facts, required):
    if not _loaded(facts):
        return FAIL, _not_loaded_reason(facts)
    value = _pgaudit_setting(facts, "pgaudit.log")
    try:
        logged = ps.effective_classes(value)
    except ValueError as exc:
        return FAIL, "pgaudit.log = %s cannot be read: %s" % (_quote(value), exc)
    missing = [name for name in required if name not in logged]
    if missing:
        return FAIL, "pgaudit.log = %s does not log %s" % (_quote(value), _join(missing))
    return PASS, "pgaudit is preloaded and pgaudit.log = %s logs %s" % (_quote(value), _join(required))


def _connections_check(name):
    def check(facts):
        value = _logging(facts, name)
        if value is None:
            return FAIL, "%s was not read" % name
        if connections_logged(value):
            return PASS, "%s = %s" % (name, _quote(value))
        return FAIL, "%s = %s: %s are not logged" % (name, _quote(value), name.split("_", 1)[1])

    return check


def _prefix_check(items):
    def check(facts):
        prefix = _logging(facts, "log_line_prefix")
        if prefix is None:
            return FAIL, "log_line_prefix was not read"
        missing = missing_prefix_items(prefix, items)
        if missing:
            return FAIL, "log_line_prefix = %s lacks %s" % (_quote(prefix), _join(_describe_item(m) for m in missing))
        return PASS, "log_line_prefix = %s has %s" % (_quote(prefix), _join(items))

    return check


def check_log_statement(facts):
    value = _logging(facts, "log_statement")
    if value is None:
        return FAIL, "log_statement was not read"
    if value.strip().lower() == "none":
        return FAIL, (
            "log_statement = 'none': the server logs no statements (pgaudit's DDL lines cover this with "
            "passwords redacted; any other value logs passwords, see PGT-passwords)"
        )
    return PASS, "log_statement = %s" % _quote(value)


def check_log_timezone(facts):
    value = _logging(facts, "log_timezone")
    if value is None:
        return FAIL, "log_timezone was not read"
    if value.strip().lower() in UTC_ZONES:
        return PASS, "log_timezone = %s (UTC)" % _quote(value)
    return FAIL, "log_timezone = %s is not UTC: time stamps of different hosts do not compare" % _quote(value)


def check_set_user(facts):
    set_user = _get(facts, "set_user")
    if not isinstance(set_user, dict):
        return FAIL, "set_user was not read"
    if not set_user.get("available_version"):
        return FAIL, "the set_user extension is not installed: no package on the host offers it"
    problems = []
    if not set_user.get("preloaded"):
        problems.append("it is not in the running shared_preload_libraries")
    if not set_user.get("databases"):
        problems.append("CREATE EXTENSION set_user was not run in any database read")
    if problems:
        return FAIL, "set_user %s is installed but %s" % (set_user["available_version"], " and ".join(problems))
    return PASS, "set_user is preloaded and created in %s" % _join(set_user["databases"])


def _pgaudit_value_check(name, expected):
    def check(facts):
        if not _loaded(facts):
            return FAIL, "%s; its settings do not apply" % _not_loaded_reason(facts)
        value = _pgaudit_setting(facts, name)
        try:
            same = ps.normalize_setting(name, value) == expected
        except ValueError:
            same = False
        if same:
            return PASS, "%s = %s" % (name, _quote(value))
        return FAIL, "%s = %s, the STIG asks for %s" % (name, _quote(value), _quote(expected))

    return check


def check_preload(facts):
    if _loaded(facts):
        return PASS, "pgaudit is in the running shared_preload_libraries"
    return FAIL, _not_loaded_reason(facts)


def check_passwords(facts):
    problems = []
    value = _logging(facts, "log_statement")
    if value is not None and value.strip().lower() in PASSWORD_LEAKING:
        problems.append("log_statement = %s" % _quote(value))
    duration = _logging(facts, "log_min_duration_statement")
    if duration is not None and str(duration).strip() == "0":
        problems.append("log_min_duration_statement = 0")
    for override in _get(facts, "logging", "overrides", default=[]) or []:
        name, setting = override.get("name"), str(override.get("value", "")).strip().lower()
        if (name == "log_statement" and setting in PASSWORD_LEAKING) or (
            name == "log_min_duration_statement" and setting == "0"
        ):
            problems.append("%s %s: %s = %s" % (override["scope"], override["target"], name, _quote(setting)))
    if problems:
        return FAIL, (
            "%s: the server log gets the cleartext passwords of CREATE/ALTER ROLE ... PASSWORD, which pgaudit "
            "redacts in its own lines" % "; ".join(problems)
        )
    return PASS, "no log_statement or log_min_duration_statement setting writes statements with passwords"


def check_weakening(facts):
    found = _get(facts, "weakening")
    if found is None:
        return FAIL, "weakening was not read"
    if not found:
        return PASS, "no database or role value of pgaudit.log logs fewer classes than the system's %s" % _quote(
            _get(facts, "pgaudit", "system_log")
        )
    described = []
    for item in found:
        if item.get("error"):
            described.append("%s %s: %s is invalid" % (item["scope"], item["target"], _quote(item["value"])))
        else:
            described.append(
                "%s %s: %s drops %s"
                % (item["scope"], item["target"], _quote(item["value"]), _join(item["classes_dropped"]))
            )
    return FAIL, "values that replace the system pgaudit.log %s and log less: %s" % (
        _quote(found[0].get("system_value")),
        "; ".join(described),
    )


def check_restart(facts):
    problems = []
    if _get(facts, "preload", "restart_required"):
        problems.append(
            "shared_preload_libraries is staged as [%s] but running [%s]"
            % (_join(_get(facts, "preload", "staged") or []), _join(_get(facts, "preload", "running") or []))
        )
    pending = [name for name in _get(facts, "pending_restart", default=[]) or [] if name != "shared_preload_libraries"]
    if pending:
        problems.append("%s wait for a restart" % _join(pending))
    if problems:
        return FAIL, "configuration staged but not running: %s" % "; ".join(problems)
    return PASS, "the running configuration is the staged one"


def check_extension(facts):
    versions = _get(facts, "pgaudit", "extension_versions")
    if not versions:
        return NOT_APPLICABLE, "no database was read"
    available = _get(facts, "pgaudit", "available_version")
    missing = sorted(db for db, version in versions.items() if not version)
    stale = sorted("%s (%s)" % (db, v) for db, v in versions.items() if v and available and v != available)
    problems = []
    if missing:
        problems.append("not created in %s" % _join(missing))
    if stale:
        problems.append("not at the library's version %s in %s" % (available, _join(stale)))
    if problems:
        return FAIL, "the pgaudit extension is %s" % "; ".join(problems)
    return PASS, "the pgaudit extension %s is in every database read (%s)" % (available or "", _join(sorted(versions)))


def _trails(facts):
    databases = _get(facts, "trail", "databases", default={}) or {}
    return dict((db, t) for db, t in sorted(databases.items()) if (t or {}).get("status") == "present")


def check_trail_always(facts):
    trails = _trails(facts)
    if not trails:
        return NOT_APPLICABLE, "no database read has the audit trail"
    problems, count = [], 0
    for db, trail in trails.items():
        for table in trail.get("audited") or []:
            if not table.get("present", True):
                continue
            count += 1
            for name in table.get("missing_triggers") or []:
                problems.append("%s: %s has no trigger %s" % (db, table["table"], name))
            for item in table.get("not_always") or []:
                problems.append(
                    "%s: %s on %s is %s" % (db, item["trigger"], item["relation"], _enabled_word(item["enabled"]))
                )
        for name, enabled in sorted((trail.get("event_triggers") or {}).items()):
            if enabled != "A":
                problems.append("%s: event trigger %s is %s" % (db, name, _enabled_word(enabled)))
    if problems:
        return FAIL, "; ".join(problems)
    return PASS, "%d audited table(s) in %s: every trail trigger is ENABLE ALWAYS" % (count, _join(trails))


def _enabled_word(state):
    return {
        "O": "ENABLE (origin only: session_replication_role = replica skips it)",
        "R": "ENABLE REPLICA (skipped outside replication)",
        "D": "DISABLED",
        "A": "ENABLE ALWAYS",
    }.get(state, "in state %r" % state)


def check_log_lockdown(facts):
    logs = _get(facts, "lockdown", "databases", default={}) or {}
    if not logs:
        return NOT_APPLICABLE, "no database read has an audit log"
    problems, inserters = [], []
    for db, log in sorted(logs.items()):
        for writer in log.get("writers") or []:
            rewrite = [p for p in writer["privileges"] if p != "INSERT"]
            if rewrite:
                problems.append("%s: %s holds %s on %s" % (db, writer["role"], _join(rewrite), log["log_table"]))
            if "INSERT" in writer["privileges"]:
                inserters.append("%s: %s" % (db, writer["role"]))
    if problems:
        return FAIL, "the log can be rewritten by more than its owner: %s" % "; ".join(problems)
    reason = "only the owner (and superusers) can UPDATE, DELETE or TRUNCATE the log in %s" % _join(sorted(logs))
    if inserters:
        reason += "; INSERT is held by %s" % _join(inserters)
    return PASS, reason


def check_pgaudit_set(facts):
    grants = _get(facts, "lockdown", "parameter_grants")
    if grants is None:
        return FAIL, "parameter grants were not read"
    superusers = _join(_get(facts, "lockdown", "superusers", default=[]) or [])
    if grants:
        return FAIL, "besides the superusers (%s), %s" % (
            superusers,
            "; ".join("%s holds %s on %s" % (g["role"], _join(g["privileges"]), g["parameter"]) for g in grants),
        )
    return PASS, "only superusers (%s) can SET or ALTER SYSTEM pgaudit.*" % superusers


def check_chain(facts):
    databases = _get(facts, "hash_chain", "databases", default={}) or {}
    chained = dict((db, c) for db, c in sorted(databases.items()) if (c or {}).get("enabled"))
    if not chained:
        return NOT_APPLICABLE, "no database read has a hash-chained log"
    problems, verified, skipped = [], [], []
    for db, chain in chained.items():
        if not chain.get("verifier"):
            problems.append("%s: the log has %s but no verify_chain()" % (db, _join(chain.get("columns") or [])))
        elif chain.get("error"):
            problems.append("%s: verify_chain() failed: %s" % (db, chain["error"]))
        elif "verify" not in chain:
            skipped.append(db)
        else:
            result = chain["verify"] or {}
            if result.get("ok") is True:
                verified.append("%s (%s rows)" % (db, result.get("checked")))
            else:
                detail = ", ".join(
                    "%s %s" % (key, result[key]) for key in ("broken_id", "expected", "found") if result.get(key)
                )
                problems.append("%s: the chain is broken%s" % (db, " at " + detail if detail else ""))
    if problems:
        return FAIL, "; ".join(problems)
    if not verified:
        return NOT_APPLICABLE, "verify_chain() was not called (verify_chain: false) in %s" % _join(skipped)
    return PASS, "the hash chain verifies in %s" % _join(verified)


def _and(items):
    return " and ".join([", ".join(items[:-1]), items[-1]] if len(items) > 1 else items)


def _stig_value_checks():
    """One check per pgaudit value the STIG asks for (pgaudit_settings.STANDARDS)."""
    return tuple(
        (
            "STIG-%s" % name.split(".", 1)[1],
            "STIG",
            "%s is %s" % (name, value),
            _pgaudit_value_check(name, value),
        )
        for name, value in sorted(ps.STANDARDS["stig"]["settings"].items())
    )


def _classes_entry(check_id, standard, title, classes):
    return (check_id, standard, title % _and(classes), lambda facts: _classes_check(facts, classes))


def _prefix_entry(check_id, standard, items):
    return (check_id, standard, "log_line_prefix has %s" % _and(items), _prefix_check(items))


# id, standard, title, check
CHECKS = (
    (
        _classes_entry("CIS-3.2", "CIS", "pgaudit is preloaded and logs %s", CIS_CLASSES),
        ("CIS-3.1.20", "CIS", "log_connections is on", _connections_check("log_connections")),
        ("CIS-3.1.21", "CIS", "log_disconnections is on", _connections_check("log_disconnections")),
        _prefix_entry("CIS-3.1.24", "CIS", CIS_PREFIX),
        ("CIS-3.1.25", "CIS", "log_statement is not none", check_log_statement),
        ("CIS-3.1.26", "CIS", "log_timezone is UTC", check_log_timezone),
        ("CIS-4.8", "CIS", "the set_user extension is installed", check_set_user),
        _classes_entry("STIG-classes", "STIG", "pgaudit.log covers %s", STIG_CLASSES),
    )
    + _stig_value_checks()
    + (
        ("STIG-preload", "STIG", "pgaudit is in shared_preload_libraries", check_preload),
        _prefix_entry("STIG-log_line_prefix", "STIG", STIG_PREFIX),
        ("PGT-passwords", "pgtrail", "no server setting logs cleartext passwords", check_passwords),
        ("PGT-weakening", "pgtrail", "no database or role value weakens the system classes", check_weakening),
        ("PGT-restart", "pgtrail", "no configuration waits for a restart", check_restart),
        ("PGT-extension", "pgtrail", "the pgaudit extension is in every database", check_extension),
        ("PGT-trail-always", "pgtrail", "audit trail triggers are ENABLE ALWAYS", check_trail_always),
        ("PGT-log-lockdown", "pgtrail", "only the owner can rewrite the audit log", check_log_lockdown),
        ("PGT-pgaudit-set", "pgtrail", "only superusers can set pgaudit.*", check_pgaudit_set),
        ("PGT-chain", "pgtrail", "the audit log's hash chain verifies", check_chain),
    )
)

# The controls each check serves, by check id: the one table of them (the seed's coverage
# categories, plugin_utils.seed_coverage, are here too). STIG ids are the Crunchy Data Postgres 16
# STIG V1R2's (vulnerability V-... or rule CD16-00-...), each one whose check text asks what the
# check verifies; PCI DSS ids are v4.0's.
_RECORDS = ("SOC 2 CC7.2", "HIPAA 164.312(b)")
CONTROLS = {
    "CIS-3.2": ("CIS 3.2", "STIG V-261938") + _RECORDS + ("PCI DSS 10.2.1", "PCI DSS 10.2.1.2", "PCI DSS 10.2.1.7"),
    "CIS-3.1.20": ("CIS 3.1.20", "STIG V-261956", "STIG V-261961") + _RECORDS + ("PCI DSS 10.2.1",),
    "CIS-3.1.21": ("CIS 3.1.21", "STIG V-261961") + _RECORDS + ("PCI DSS 10.2.1",),
    "CIS-3.1.24": ("CIS 3.1.24", "STIG V-261961", "STIG CD16-00-001100", "STIG CD16-00-001200")
    + _RECORDS
    + ("PCI DSS 10.2.2",),
    "CIS-3.1.25": ("CIS 3.1.25",) + _RECORDS + ("PCI DSS 10.2.1",),
    "CIS-3.1.26": ("CIS 3.1.26",) + _RECORDS + ("PCI DSS 10.2.2",),
    "CIS-4.8": ("CIS 4.8",) + _RECORDS + ("PCI DSS 10.2.1.2",),
    "STIG-classes": ("STIG V-261938", "STIG V-261946")
    + _RECORDS
    + ("PCI DSS 10.2.1.1", "PCI DSS 10.2.1.2", "PCI DSS 10.2.1.7"),
    "STIG-log_catalog": ("STIG V-261946",) + _RECORDS + ("PCI DSS 10.2.1",),
    "STIG-log_level": _RECORDS + ("PCI DSS 10.2.1",),
    "STIG-log_parameter": _RECORDS + ("PCI DSS 10.2.2",),
    "STIG-log_statement_once": _RECORDS + ("PCI DSS 10.2.2",),
    "STIG-preload": ("STIG CD16-00-000900", "STIG V-261938") + _RECORDS + ("PCI DSS 10.2.1",),
    "STIG-log_line_prefix": ("STIG V-261961", "STIG CD16-00-001100", "STIG CD16-00-001200")
    + _RECORDS
    + ("PCI DSS 10.2.2",),
    "PGT-passwords": ("SOC 2 CC6.1", "PCI DSS 8.3.2"),
    "PGT-weakening": _RECORDS + ("PCI DSS 10.2.1",),
    "PGT-restart": _RECORDS + ("PCI DSS 10.2.1",),
    "PGT-extension": _RECORDS + ("PCI DSS 10.2.1",),
    "PGT-trail-always": _RECORDS + ("PCI DSS 10.2.1.1",),
    "PGT-log-lockdown": ("SOC 2 CC7.2", "SOC 2 CC6.1", "HIPAA 164.312(b)", "PCI DSS 10.3.2"),
    "PGT-pgaudit-set": ("STIG CD16-00-000600", "SOC 2 CC6.1", "HIPAA 164.312(b)", "PCI DSS 10.3.2"),
    "PGT-chain": _RECORDS + ("PCI DSS 10.3.4",),
    # The seed's "what to audit" (plugin_utils.seed_coverage), one entry per category.
    "seed-authentication": ("CIS 3.1.20", "CIS 3.1.21", "STIG V-261956")
    + _RECORDS
    + ("PCI DSS 10.2.1.4", "PCI DSS 10.2.1.5"),
    "seed-authorization": ("STIG V-261938",) + _RECORDS + ("PCI DSS 10.2.1.2", "PCI DSS 10.2.1.4"),
    "seed-data-access": ("STIG V-261938",) + _RECORDS + ("PCI DSS 10.2.1.1",),
    "seed-data-modification": ("CIS 3.2", "STIG V-261938") + _RECORDS + ("PCI DSS 10.2.1.1",),
    "seed-configuration": ("CIS 3.2", "STIG V-261946") + _RECORDS + ("PCI DSS 10.2.1.2", "PCI DSS 10.2.1.7"),
    "seed-administrative": ("STIG V-261938",) + _RECORDS + ("PCI DSS 10.2.1.2", "PCI DSS 10.2.1.5"),
}
# The frameworks a control id may name (tests check every id against them).
FRAMEWORKS = ("CIS", "STIG", "SOC 2", "HIPAA", "PCI DSS")


def controls_of(check_id):
    """The controls a check serves, as a list (empty for a check the table does not know)."""
    return list(CONTROLS.get(check_id, ()))


# The names a report's set of standards may hold.
STANDARD_SETS = {"cis": ("CIS",), "stig": ("STIG",), "pgtrail": ("pgtrail",), "all": STANDARDS}


def standards_of(names):
    """The standards named (cis, stig, pgtrail, all); None or empty means all."""
    if names is None:
        return STANDARDS
    if isinstance(names, str):
        names = [names]
    wanted = []
    unknown = []
    for name in names:
        key = str(name).strip().lower()
        if key not in STANDARD_SETS:
            unknown.append(name)
            continue
        for standard in STANDARD_SETS[key]:
            if standard not in wanted:
                wanted.append(standard)
    if unknown:
        raise ValueError(
            "unknown compliance standard(s) %s; known: %s"
            % (_join(repr(u) for u in unknown), _join(sorted(STANDARD_SETS)))
        )
    return tuple(s for s in STANDARDS if s in wanted) or STANDARDS


def evaluate(facts, standards=None):
    """[{id, title, standard, status, reason, controls}] of the checks of the named standards, in a fixed order."""
    if not isinstance(facts, dict):
        raise ValueError("evaluate expects the facts audit_info returns (a dict), got %r" % (type(facts).__name__,))
    wanted = standards_of(standards)
    results = []
    for check_id, standard, title, check in CHECKS:
        if standard not in wanted:
            continue
        status, reason = check(facts)
        results.append(
            dict(
                id=check_id,
                title=title,
                standard=standard,
                status=status,
                reason=reason,
                controls=controls_of(check_id),
            )
        )
    return results


def summarize(results):
    """{pass: n, fail: n, not_applicable: n} of evaluate's results."""
    counts = dict((status, 0) for status in STATUSES)
    for result in results:
        counts[result["status"]] = counts.get(result["status"], 0) + 1
    return counts
