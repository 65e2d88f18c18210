# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: pgaudit_scope
short_description: Validate and normalise a pgaudit inventory scope
version_added: 0.1.0
description:
  - Turns the C(pgtrail.audit.pgaudit) role's variables into the arguments of the
    M(pgtrail.audit.pgaudit_settings) and M(pgtrail.audit.object_audit) modules.
  - Fails, naming every bad variable, class or value at once, before any host changes.
options:
  _input:
    description:
      - A dict with the keys C(profile), C(log), C(settings), C(databases), C(roles), C(object_audit)
        and C(log_off_allowed), holding the role variables of the same names (C(pgaudit_profile), ...).
      - A setting given in two places is refused, naming both (C(pgaudit_log) with C(pgaudit_settings.log);
        C(pgaudit_object_audit) with C(pgaudit_settings.role)). The profile C(seed) is the deprecated
        name of C(baseline).
      - A C(pgaudit.log) that logs nothing (C(none), an empty string or list, C(-misc)) at a scope is
        refused unless C(log_off_allowed) names that scope (C(system), C(database:NAME), C(role:NAME)).
    type: dict
    required: true
author:
  - pgtrail.audit maintainers (@pgtrail)
"""

EXAMPLES = r"""
- name: Normalise the scope
  ansible.builtin.set_fact:
    scope: >-
      {{ {'profile': 'baseline', 'log': ['WRITE', 'ddl'],
          'databases': {'finance': {'log': 'read,write'}}} | pgtrail.audit.pgaudit_scope }}
"""

RETURN = r"""
_value:
  description:
    - C(system) (full setting names to canonical values, profile first, then the inventory),
      C(databases), C(roles) (with an optional C(database) key for role-in-database), C(object_audit),
      C(log_off), the scopes where auditing is off ([{scope, where, value}]), and C(server), the
      server parameters the profile needs (the V(coverage) profile's logging of logins and errors).
  type: dict
"""

from ansible.errors import AnsibleFilterError
from ansible.utils.display import Display

from ansible_collections.pgtrail.audit.plugins.module_utils import pgaudit_scope as scope_lib

KEYS = ("profile", "log", "settings", "databases", "roles", "object_audit", "log_off_allowed")


def pgaudit_scope(variables):
    if not isinstance(variables, dict):
        raise AnsibleFilterError("pgaudit_scope expects a dict, got %r" % (variables,))
    unknown = sorted(set(variables) - set(KEYS))
    if unknown:
        raise AnsibleFilterError(
            "pgaudit_scope: unknown key(s) %s; expected %s" % (", ".join(unknown), ", ".join(KEYS))
        )
    try:
        scope = scope_lib.compose_scope(**variables)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from exc
    profile = variables.get("profile")
    if profile in scope_lib.PROFILE_ALIASES:
        deprecate(
            "pgaudit_profile %s is deprecated: it is now called %s" % (profile, scope_lib.PROFILE_ALIASES[profile])
        )
    return scope


def deprecate(message):
    Display().deprecated(message, version="0.2.0", collection_name="pgtrail.audit")  # scope_lib.ALIASES_REMOVED_IN


class FilterModule(object):
    def filters(self):
        return {"pgaudit_scope": pgaudit_scope}
