# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drift: the inventory's declared pgaudit scope against what a host really has (pure).

``drift(declared_scope, facts)`` compares the output of ``compose_scope`` (what the role
applies) with the ``pgaudit.settings_by_scope`` that ``pgtrail.audit.audit_info`` reads, scope
by scope, with the same planner the pgaudit_settings module uses (``plan_scope``). So the drift
a report shows is exactly what ``site.yml --check --diff`` would change: a value that differs
only in spelling (``'WRITE,ddl'``) is no drift, a declared value set at no scope is.

System values are compared with the staged configuration (the files and
``postgresql.auto.conf``), as the module does; a value staged but not yet loaded is a pending
restart or reload, not drift.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgtrail.audit.plugins.module_utils import pgaudit_settings as ps

SCOPE_ORDER = ("system", "database", "role", "role_in_database")


def actual_by_scope(facts):
    """{(scope, target): {name: value}} of the pgaudit.* values audit_info found."""
    entries = ((facts or {}).get("pgaudit") or {}).get("settings_by_scope")
    if entries is None:
        raise ValueError(
            "the facts have no pgaudit.settings_by_scope: gather them with pgtrail.audit.audit_info from this release"
        )
    actual = {}
    for entry in entries:
        actual.setdefault((entry["scope"], entry.get("target")), {})[entry["name"]] = entry["value"]
    return actual


def declared_by_scope(declared_scope):
    """[(scope, target, settings)] of compose_scope's output, in the order the role applies them."""
    if not isinstance(declared_scope, dict):
        raise ValueError("drift expects the declared scope from pgaudit_scope (a dict), got %r" % (declared_scope,))
    scopes = [("system", None, dict(declared_scope.get("system") or {}))]
    for database, settings in sorted((declared_scope.get("databases") or {}).items()):
        scopes.append(("database", database, dict(settings or {})))
    for role, settings in sorted((declared_scope.get("roles") or {}).items()):
        settings = dict(settings or {})
        database = settings.pop("database", None)
        scopes.append(ps.scope_of(database, role) + (settings,))
    return scopes


def drift(declared_scope, facts, remove_unlisted=False):
    """[{scope, target, setting, declared, actual}] where the host differs from the inventory.

    ``declared`` is the inventory's canonical value (None for a value the inventory does not
    list, reported only with ``remove_unlisted``, as the role would reset it); ``actual`` is the
    value set at that scope on the host, None when none is. ``target`` is the database, the
    role, ``role@database`` or None for the system. Raises ValueError for a declared value that
    is not valid, naming it.
    """
    actual = actual_by_scope(facts)
    found = []
    for scope, target, settings in declared_by_scope(declared_scope):
        current = actual.get((scope, target), {})
        try:
            actions = ps.plan_scope(current, settings, remove_unlisted=remove_unlisted)
        except ValueError as exc:
            raise ValueError("%s%s: %s" % (scope, " " + target if target else "", exc))
        present = dict((name.strip().lower(), value) for name, value in current.items())
        for action in actions:
            name = action[1]
            found.append(
                dict(
                    scope=scope,
                    target=target,
                    setting=name,
                    declared=action[2] if action[0] == "set" else None,
                    actual=present.get(name),
                )
            )
    return found
