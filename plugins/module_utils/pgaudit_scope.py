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

from ansible_collections.pgtrail.audit.plugins.module_utils import identifiers
from ansible_collections.pgtrail.audit.plugins.module_utils import pgaudit_settings as settings_lib

OBJECT_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")
NO_PROFILE = "none"


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


def compose_scope(profile="seed", log=None, settings=None, databases=None, roles=None, object_audit=None):
    """Return {system, databases, roles, object_audit} ready for the modules, or raise ValueError
    listing every problem."""
    errors = []
    system = {}
    if profile and profile != NO_PROFILE:
        try:
            system.update(settings_lib.profile_settings(profile))
        except ValueError as exc:
            errors.append("pgaudit_profile: %s" % exc)
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

    if errors:
        raise ValueError("%d problem(s) in the pgaudit inventory: %s" % (len(errors), "; ".join(errors)))
    return dict(system=system, databases=db_scopes, roles=role_scopes, object_audit=audit_objects)
