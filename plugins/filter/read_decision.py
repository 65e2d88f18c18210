# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: read_decision
short_description: Whether a host is steady, and which steps it still takes, from the pgaudit role's read
version_added: 0.1.0
author:
  - pgtrail.audit maintainers (@pgtrail)
description:
  - From the result of M(pgtrail.audit.audit_plan) (the read of the C(pgtrail.audit.pgaudit) role), whether
    the host is steady - pgaudit installed, preloaded and running, nothing at system level to stage
    or restart - and which steps of the role's C(scopes.yml) a steady primary still takes (those whose
    plan is not empty).
  - A steady host is brought up to date by C(site.yml) without its rolling batches; a steady host with no
    step left in either role sits out its last plays.
options:
  _input:
    description: The read, the result of M(pgtrail.audit.audit_plan).
    type: dict
    required: true
  scope:
    description: The validated pgaudit scope (C(pgaudit_scope)).
    type: dict
    default: {}
  extension_databases:
    description: The databases that must have the extension (C(pgaudit_extension_databases)).
    type: list
    elements: str
    default: []
  package_missing:
    description: Whether the pgaudit package is still to install.
    type: bool
    default: false
  trail_steps:
    description:
      - The steps of the C(pgtrail.audit.audit_triggers) role left on this host (the C(steps) of its
        C(trail_steps) filter).
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Decide whether the host is steady
  ansible.builtin.set_fact:
    decision: "{{ __pgaudit_read | pgtrail.audit.read_decision(scope=pgaudit_scope, extension_databases=['all']) }}"
  # {"planned": {"changes": [], ...}, "steady": true, "steady_steps": [], "trail_steps": [], "group": "idle"}
"""

RETURN = r"""
_value:
  description:
    - C(planned) (the plan of the settings, empty without one), C(steady),
      C(steady_steps) (the steps C(extension), C(scopes), C(object_audit) a steady primary still takes),
      C(trail_steps) (the audit_triggers role's steps on a steady host, C(['all']) on any other) and
      C(group) - C(rolling) (not steady), C(steady) (steady, with a step left in either role) or
      C(idle) (steady, nothing to do), which the P(pgtrail.audit.read_hosts#filter) filter chooses by.
  type: dict
"""

from ansible_collections.pgtrail.audit.plugins.plugin_utils import filters
from ansible_collections.pgtrail.audit.plugins.plugin_utils.steady import read_decision as decide


def read_decision(read, scope=None, extension_databases=None, package_missing=False, trail_steps=None):
    return filters.call(
        "read_decision",
        decide,
        read,
        scope=scope,
        extension_databases=extension_databases,
        package_missing=package_missing,
        trail_steps=trail_steps,
    )


FilterModule = filters.filter_module(read_decision)
