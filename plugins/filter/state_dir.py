# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: state_dir
short_description: Where the collection's playbooks keep their files on the controller by default
version_added: 0.1.0
author:
  - pgtrail.audit maintainers (@pgtrail)
description:
  - The directory under which C(playbooks/report.yml) writes C(report/), and C(playbooks/verify.yml)
    and C(playbooks/bundle.yml) keep C(checkpoints/), C(chain-heads/) and C(report/), unless
    C(pgtrail_report_dir), C(pgtrail_checkpoint_dir), C(pgtrail_chain_dir) or C(pgtrail_bundle_dir) say
    otherwise.
  - From an installed collection, beside the inventory - the directory of the inventory's file, or,
    when the host comes from an inventory directory given with C(-i), the directory that holds it
    (Ansible reads every file under an inventory directory as inventory, so a report written there
    would become hosts). From a checkout, the checkout's root.
options:
  _input:
    description: C(inventory_dir), the directory of the file that defines the host (none for C(localhost)).
    type: str
    required: true
  sources:
    description: C(ansible_inventory_sources), the inventory sources given with C(-i).
    type: list
    elements: str
    required: true
  playbook_dir:
    description: C(playbook_dir).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Where report.yml writes by default
  ansible.builtin.debug:
    msg: "{{ inventory_dir | pgtrail.audit.state_dir(ansible_inventory_sources, playbook_dir) }}/report"
"""

RETURN = r"""
_value:
  description: An absolute directory, with no trailing slash.
  type: str
"""

import os.path

from ansible_collections.pgtrail.audit.plugins.plugin_utils import filters


def state_dir(inventory_dir, sources, playbook_dir):
    if not inventory_dir or "/ansible_collections/" not in playbook_dir:
        return os.path.normpath(os.path.join(playbook_dir, ".."))
    inventory_dir = os.path.normpath(inventory_dir)
    for source in [os.path.normpath(source) for source in sources or []]:
        # Ansible reads an inventory directory's subdirectories too.
        if inventory_dir == source or inventory_dir.startswith(source + os.sep):
            return os.path.dirname(source)
    return inventory_dir


FilterModule = filters.filter_module(state_dir)
