# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: read_hosts
short_description: The hosts that the pgaudit role's read put in one group (rolling, steady or idle)
version_added: 0.1.0
author:
  - pgtrail.audit maintainers (@pgtrail)
description:
  - Of the given hosts, those whose read (the decision C(pgtrail.audit.read_decision) made, which
    the pgaudit role keeps as C(__pgaudit_decision)) put them in O(group), in their order.
  - C(rolling) hosts change at system level and go through C(site.yml)'s batches; C(steady) hosts
    still have a step to take in either role; C(idle) hosts have nothing to do.
  - A host without a decision (its read failed, or it was not read) is in no group.
options:
  _input:
    description: The hosts to choose from, such as C(groups.postgres).
    type: list
    elements: str
    required: true
  hostvars:
    description: Ansible's C(hostvars).
    type: dict
    required: true
  group:
    description: The group.
    type: str
    choices: [rolling, steady, idle]
    required: true
"""

EXAMPLES = r"""
- name: Bring the steady hosts up to date, all at once
  hosts: "{{ groups.postgres | pgtrail.audit.read_hosts(hostvars, 'steady') }}"
  gather_facts: false
  roles:
    - pgtrail.audit.pgaudit
"""

RETURN = r"""
_value:
  description: The hosts of the input in O(group), in the input's order.
  type: list
  elements: str
"""

from ansible_collections.pgtrail.audit.plugins.plugin_utils import filters
from ansible_collections.pgtrail.audit.plugins.plugin_utils.steady import read_hosts as choose


def read_hosts(hosts, hostvars, group):
    return filters.call("read_hosts", choose, hosts, hostvars, group)


FilterModule = filters.filter_module(read_hosts)
