# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: drift
short_description: Compare the inventory's pgaudit scope with what a host really has
version_added: 0.1.0
author:
  - pgtrail.audit maintainers (@pgtrail)
description:
  - Compares the declared scope (the output of P(pgtrail.audit.pgaudit_scope#filter), which the
    C(pgtrail.audit.pgaudit) role sets as C(pgaudit_scope)) with the C(pgaudit.settings_by_scope)
    of M(pgtrail.audit.audit_info), scope by scope, changing nothing.
  - Values compare by meaning, with the planner the M(pgtrail.audit.pgaudit_settings) module
    uses, so the drift listed is what C(site.yml --check --diff) reports as changes. System
    values compare with the staged configuration.
  - Object-audit grants are not compared.
options:
  _input:
    description: The declared scope, as P(pgtrail.audit.pgaudit_scope#filter) returns it.
    type: dict
    required: true
  facts:
    description: The registered result of M(pgtrail.audit.audit_info).
    type: dict
    required: true
  remove_unlisted:
    description:
      - Also list C(pgaudit.*) values set at a declared scope that the inventory does not name
        (with C(declared=null)), as the role resets them with C(pgaudit_remove_unlisted=true).
    type: bool
    default: false
"""

EXAMPLES = r"""
# audit: the registered result of pgtrail.audit.audit_info
- name: Show where the host differs from the inventory
  ansible.builtin.debug:
    msg: "{{ pgaudit_scope | pgtrail.audit.drift(audit) }}"
  # [{"scope": "database", "target": "finance", "setting": "pgaudit.log",
  #   "declared": "read, write", "actual": "none"}]
"""

RETURN = r"""
_value:
  description:
    - One dict per differing value -- C(scope) (C(system), C(database), C(role),
      C(role_in_database)), C(target) (the database, the role, C(role@database), or null for
      system), C(setting), C(declared) (the inventory's canonical value) and C(actual) (the value
      set at that scope, null when none is).
  type: list
  elements: dict
"""

from ansible_collections.pgtrail.audit.plugins.plugin_utils import filters
from ansible_collections.pgtrail.audit.plugins.plugin_utils.drift import drift as compare


def drift(declared_scope, facts, remove_unlisted=False):
    return filters.call("drift", compare, declared_scope, facts, remove_unlisted=remove_unlisted)


FilterModule = filters.filter_module(drift)
