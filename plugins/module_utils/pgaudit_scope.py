# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The inventory's pgaudit scope, validated and normalised in one place (pure; unit-tested).

The role's variables (profile, log, settings, databases, roles, object_audit) become the
arguments of the pgaudit_settings and object_audit modules. Every problem is collected and
reported at once, each prefixed with the variable it came from, so a user fixes the inventory
in one go and no host changes before that.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.pgtrail.audit.plugins.module_utils import identifiers
from ansible_collections.pgtrail.audit.plugins.module_utils import pgaudit_settings as settings_lib

OBJECT_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")
NO_PROFILE = "none"
DEFAULT_PROFILE = "baseline"
# Profile names kept one release: {old: new} (one table, with the profiles).
PROFILE_ALIASES = settings_lib.PROFILE_ALIASES
# The one name of each thing both roles and every playbook read, and the names it had before,
# kept as deprecated aliases for one release.
NAME_ALIASES = {
    "pgtrail_connection": ("pgaudit_connection", "audit_triggers_connection"),
    "pgtrail_become_user": ("pgaudit_become_user", "audit_triggers_become_user"),
    "pgtrail_install_packages": ("pgaudit_install_packages", "audit_triggers_install_packages"),
    "pgtrail_report_standards": ("pgtrail_report_profiles",),
}
ALIASES_REMOVED_IN = "0.2.0"
# site.yml's own variables, which its play keywords read (serial, max_fail_percentage): given
# with -e (play keywords cannot see inventory variables), so as strings.
SERIAL_FORM = re.compile(r"^[0-9]+%?$")
WHOLE_NUMBER = re.compile(r"^[0-9]+$")
# The opt-in for scopes where pgaudit.log may log nothing, and the forms of its entries.
LOG_OFF_VARIABLE = "pgaudit_log_off_allowed"
LOG_OFF_FORMS = "'system', 'database:NAME' or 'role:NAME'"


def _log_off_allowed(allowed, errors):
    """The set of scope names the inventory allows auditing to be off at."""
    if allowed is None:
        return set()
    if isinstance(allowed, str):  # as -e gives it: 'system,role:etl_loader'
        allowed = [entry.strip() for entry in allowed.split(",") if entry.strip()]
    if not isinstance(allowed, (list, tuple)):
        errors.append("%s: expected a list of scopes (%s), got %r" % (LOG_OFF_VARIABLE, LOG_OFF_FORMS, allowed))
        return set()
    names = set()
    for entry in allowed:
        kind, _sep, target = entry.partition(":") if isinstance(entry, str) else ("", "", "")
        if entry == "system" or (kind in ("database", "role") and target):
            names.add(entry)
        else:
            errors.append("%s: %r is not a scope; write %s" % (LOG_OFF_VARIABLE, entry, LOG_OFF_FORMS))
    return names


def check_names(given):
    """(deprecations, errors) for the variables the inventory defines ({name: value}).

    Each old name set is a deprecation naming its one name; two names of one thing with
    different values are an error naming both (the roles would otherwise pick one silently).
    """
    deprecations, errors = [], playbook_variable_errors(given)
    for name, old_names in sorted(NAME_ALIASES.items()):
        for old in old_names:
            if old not in given:
                continue
            deprecations.append(
                "%s is deprecated: set %s instead (one name for both roles and the playbooks)" % (old, name)
            )
        values = [(n, given[n]) for n in (name,) + old_names if n in given]
        for other, value in values[1:]:
            if _meaning(value) != _meaning(values[0][1]):
                errors.append(
                    "%s and %s name the same thing with different values (%r, %r): set only %s"
                    % (values[0][0], other, values[0][1], value, name)
                )
    return deprecations, errors


def playbook_variable_errors(given):
    """Errors for site.yml's own variables among ``given`` ({name: value}), each naming its value.

    ``pgtrail_serial`` is what Ansible's ``serial`` takes: a number of hosts or a percentage
    (``2``, ``"25%"``), or a list of them; ``pgtrail_max_fail_percentage`` what
    ``max_fail_percentage`` takes, a whole number from 0 to 100.
    """
    errors = []
    if "pgtrail_serial" in given:
        serial = given["pgtrail_serial"]
        batches = serial if isinstance(serial, list) else [serial]
        if any(isinstance(b, bool) or not SERIAL_FORM.match(str(b)) for b in batches):
            errors.append(
                "pgtrail_serial must be a number of hosts or a percentage (2, 25%%), or a list of them, got %s"
                % (serial,)
            )
    if "pgtrail_max_fail_percentage" in given:
        percentage = given["pgtrail_max_fail_percentage"]
        if isinstance(percentage, bool) or not WHOLE_NUMBER.match(str(percentage)) or int(str(percentage)) > 100:
            errors.append("pgtrail_max_fail_percentage must be a whole number from 0 to 100, got %s" % (percentage,))
    return errors


def _meaning(value):
    """A value as the roles read it: 'yes', 'true' and True are one boolean (-e gives strings)."""
    try:
        return boolean(value, strict=True) if isinstance(value, (bool, str)) else value
    except TypeError:
        return value


def _given_twice(log, settings, object_audit):
    """Errors for a pgaudit setting the inventory gives in two places (no silent override)."""
    errors = []
    named = dict(
        (key.strip().lower().replace("pgaudit.", "", 1), key)
        for key in (settings if isinstance(settings, dict) else {})
        if isinstance(key, str)
    )
    if log is not None and "log" in named:
        errors.append(
            "pgaudit_log and pgaudit_settings.%s both set pgaudit.log: give it once (pgaudit_log)" % named["log"]
        )
    if isinstance(object_audit, dict) and object_audit and "role" in named:
        errors.append(
            "pgaudit_object_audit and pgaudit_settings.%s both set pgaudit.role: give it once "
            "(pgaudit_object_audit.role)" % named["role"]
        )
    return errors


def _profile(profile, errors):
    """The profile's settings; 'seed' is the deprecated name of 'baseline'."""
    name = profile.strip().lower() if isinstance(profile, str) else profile
    name = PROFILE_ALIASES.get(name, name)
    if not name or name == NO_PROFILE:
        return {}
    try:
        return settings_lib.profile_settings(name)
    except ValueError as exc:
        errors.append("pgaudit_profile: %s" % exc)
        return {}


def _given_log(values):
    """The pgaudit.log value as the inventory gave it ('log' or 'pgaudit.log'), for messages."""
    for key, value in (values or {}).items() if isinstance(values, dict) else ():
        if isinstance(key, str) and key.strip().lower() in ("log", "pgaudit.log"):
            return value
    return None


def _off_scopes(system, system_variable, databases, roles):
    """[(scope name, variable, where, canonical value)] of every scope whose pgaudit.log logs nothing."""
    found = []
    if "pgaudit.log" in system and settings_lib.logs_nothing(system["pgaudit.log"]):
        found.append(
            ("system", system_variable, "every session without a database or role value (system-wide)", system)
        )
    for name, values in sorted(databases.items()):
        if "pgaudit.log" in values and settings_lib.logs_nothing(values["pgaudit.log"]):
            found.append(("database:%s" % name, "pgaudit_databases.%s" % name, "database %s" % name, values))
    for name, values in sorted(roles.items()):
        if "pgaudit.log" in values and settings_lib.logs_nothing(values["pgaudit.log"]):
            where = (
                "role %s in database %s" % (name, values["database"]) if values.get("database") else "role %s" % name
            )
            found.append(("role:%s" % name, "pgaudit_roles.%s" % name, where, values))
    return [(scope, variable, where, values["pgaudit.log"]) for scope, variable, where, values in found]


def _settings(where, values, errors):
    if values is None:
        return {}
    if not isinstance(values, dict):
        errors.append("%s: expected a dict of pgaudit settings, got %r" % (where, values))
        return {}
    try:
        return settings_lib.normalize_settings(values)
    except ValueError as exc:
        errors.append("%s: %s" % (where, exc))
        return {}


def _object_audit(object_audit, errors):
    if not object_audit:
        return {}
    where = "pgaudit_object_audit"
    role = object_audit.get("role") or "audit_objects"
    try:
        identifiers.check(role, "role")
    except ValueError as exc:
        errors.append("%s.%s" % (where, exc))
    grants = []
    for index, grant in enumerate(object_audit.get("grants") or []):
        here = "%s.grants[%d]" % (where, index)
        if not isinstance(grant, dict) or not grant.get("database") or not grant.get("table"):
            errors.append("%s: needs database and table, got %r" % (here, grant))
            continue
        privileges = [str(p).upper() for p in grant.get("privileges") or ["SELECT"]]
        bad = sorted(set(privileges) - set(OBJECT_PRIVILEGES))
        if bad:
            errors.append(
                "%s: privilege(s) %s cannot be audited by object (pgaudit covers %s; TRUNCATE is not covered)"
                % (here, ", ".join(bad), ", ".join(OBJECT_PRIVILEGES))
            )
            continue
        try:
            identifiers.parse_qualified(grant["table"])
            for column in grant.get("columns") or []:
                identifiers.parse_single(column, "column")
        except ValueError as exc:
            errors.append("%s: %s" % (here, exc))
            continue
        clean = dict(database=grant["database"], table=grant["table"], privileges=privileges)
        if grant.get("columns"):
            clean["columns"] = list(grant["columns"])
        grants.append(clean)
    return dict(role=role, grants=grants)


def compose_scope(
    profile=DEFAULT_PROFILE,
    log=None,
    settings=None,
    databases=None,
    roles=None,
    object_audit=None,
    log_off_allowed=None,
):
    """Return {system, databases, roles, object_audit, log_off, server} ready for the modules, or
    raise ValueError listing every problem (``server``: the server parameters the profile needs).

    A setting given in two places (pgaudit_log and pgaudit_settings.log, pgaudit_object_audit and
    pgaudit_settings.role) is an error naming both. A pgaudit.log that logs nothing ('none', '',
    [], '-misc') turns auditing off at its scope:
    it is refused unless ``log_off_allowed`` names that scope ('system', 'database:NAME',
    'role:NAME'); ``log_off`` lists every scope where auditing is off, for the run to say so.
    """
    errors = _given_twice(log, settings, object_audit)
    allowed = _log_off_allowed(log_off_allowed, errors)
    system = _profile(profile, errors)
    system.update(_settings("pgaudit_settings", settings, errors))
    if log is not None:
        system.update(_settings("pgaudit_log", {"log": log}, errors))
    audit_objects = _object_audit(object_audit, errors)
    if audit_objects:
        system["pgaudit.role"] = audit_objects["role"]

    db_scopes = {}
    for name, values in sorted((databases or {}).items()):
        db_scopes[name] = _settings("pgaudit_databases.%s" % name, values, errors)

    role_scopes = {}
    for name, values in sorted((roles or {}).items()):
        values = dict(values or {})
        database = values.pop("database", None)
        scope = _settings("pgaudit_roles.%s" % name, values, errors)
        if database:
            scope["database"] = database
        role_scopes[name] = scope

    given = {"pgaudit_log": log, "pgaudit_settings.log": _given_log(settings)}
    given.update(("pgaudit_databases.%s" % name, _given_log(v)) for name, v in (databases or {}).items())
    given.update(("pgaudit_roles.%s" % name, _given_log(v)) for name, v in (roles or {}).items())
    log_off = []
    for scope, variable, where, value in _off_scopes(
        system, "pgaudit_log" if log is not None else "pgaudit_settings.log", db_scopes, role_scopes
    ):
        if scope in allowed:
            log_off.append(dict(scope=scope, where=where, value=value))
        else:
            errors.append(
                "%s: pgaudit.log %r logs nothing, so auditing is off for %s; "
                "if that is intended, add '%s' to %s" % (variable, given.get(variable), where, scope, LOG_OFF_VARIABLE)
            )

    if errors:
        raise ValueError("%d problem(s) in the pgaudit inventory: %s" % (len(errors), "; ".join(errors)))
    name = PROFILE_ALIASES.get(profile, profile) if isinstance(profile, str) else profile
    return dict(
        system=system,
        databases=db_scopes,
        roles=role_scopes,
        object_audit=audit_objects,
        log_off=log_off,
        server=dict(settings_lib.PROFILE_SERVER_SETTINGS.get(str(name).strip().lower(), {})),
    )
