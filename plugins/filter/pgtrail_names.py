# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: pgtrail_names
short_description: Warn about deprecated variable names, refuse two names of one thing that disagree
version_added: 0.1.0
description:
  - Both roles and every playbook read one connection, become-user and install-packages variable
    (C(pgtrail_connection), C(pgtrail_become_user), C(pgtrail_install_packages)), and report.yml reads
    C(pgtrail_report_standards). Their old names (C(pgaudit_connection), C(audit_triggers_connection), ...,
    C(pgtrail_report_profiles)) work until 0.2.0, with a deprecation warning each.
  - Fails when two names of one thing are set to different values, naming both.
  - Fails, naming the value, when C(site.yml)'s own variables, which its play keywords read, hold a
    value those keywords refuse - C(pgtrail_serial) (a number of hosts or a percentage, or a list of
    them, as C(serial) takes) and C(pgtrail_max_fail_percentage) (a whole number from 0 to 100).
options:
  _input:
    description: The variables the inventory defines among these names, as C(name -> value).
    type: dict
    required: true
author:
  - pgtrail.audit maintainers (@pgtrail)
"""

EXAMPLES = r"""
- name: Warn about the old names the inventory still uses
  ansible.builtin.set_fact:
    names_checked: "{{ dict(names | zip(query('ansible.builtin.vars', *names))) | pgtrail.audit.pgtrail_names }}"
  vars:
    names: "{{ query('ansible.builtin.varnames', '^(pgtrail|pgaudit|audit_triggers)_(connection|become_user)$') }}"
"""

RETURN = r"""
_value:
  description: The input, unchanged.
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.pgtrail.audit.plugins.filter.pgaudit_scope import deprecate
from ansible_collections.pgtrail.audit.plugins.module_utils.pgaudit_scope import check_names


def pgtrail_names(given):
    if not isinstance(given, dict):
        raise AnsibleFilterError("pgtrail_names expects a dict of variables, got %r" % (given,))
    deprecations, errors = check_names(given)
    if errors:
        raise AnsibleFilterError("; ".join(errors))
    for message in deprecations:
        deprecate(message)
    return given


class FilterModule(object):
    def filters(self):
        return {"pgtrail_names": pgtrail_names}
