# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: compliance
short_description: Check a host's audit facts against CIS, the STIG and pgtrail's own rules
version_added: 0.1.0
author:
  - pgtrail.audit maintainers (@pgtrail)
description:
  - Evaluates the result of M(pgtrail.audit.audit_info) and returns one verdict per check, each
    with the reason and the values it found, so an auditor can read it without the facts.
  - C(CIS) -- 3.2 (pgaudit preloaded, C(pgaudit.log) with ddl and write), 3.1.20 and 3.1.21
    (C(log_connections), C(log_disconnections); PostgreSQL 18's list counts as on unless empty),
    3.1.24 (C(log_line_prefix) with time, pid, database, user, application, client), 3.1.25
    (C(log_statement) not none), 3.1.26 (C(log_timezone) UTC), 4.8 (set_user installed).
  - C(STIG) -- classes ddl, role, read and write; C(log_catalog) on; C(log_level) log;
    C(log_parameter) on; C(log_statement_once) off; pgaudit preloaded; C(log_line_prefix) with
    time, user, database and client.
  - C(pgtrail) -- no setting that logs cleartext passwords (C(log_statement) ddl, mod or all,
    C(log_min_duration_statement) 0, also per database or role), no database or role value that
    weakens the system classes, no configuration waiting for a restart, the pgaudit extension in
    every database read, audit trail triggers C(ENABLE ALWAYS), a log only its owner can rewrite,
    C(pgaudit.*) only superusers can set, and a hash chain that verifies.
options:
  _input:
    description: The registered result of M(pgtrail.audit.audit_info).
    type: dict
    required: true
  standards:
    description:
      - The standards to check -- any of V(cis), V(stig), V(pgtrail), or V(all). Omitted, all of them.
    type: list
    elements: str
  profiles:
    description:
      - The old name of O(standards), deprecated; it is removed in release 0.2.0.
    type: list
    elements: str
"""

EXAMPLES = r"""
# audit: the registered result of pgtrail.audit.audit_info
- name: Fail the play on a failed CIS check
  ansible.builtin.assert:
    that: failed | length == 0
    fail_msg: "{{ failed | map(attribute='reason') | list }}"
  vars:
    failed: "{{ audit | pgtrail.audit.compliance(['cis']) | selectattr('status', 'eq', 'fail') | list }}"
"""

RETURN = r"""
_value:
  description:
    - One dict per check, in a fixed order -- C(id) (C(CIS-3.2), C(STIG-classes), C(PGT-chain)...),
      C(title), C(standard) (C(CIS), C(STIG) or C(pgtrail)), C(status) (C(pass), C(fail) or
      C(not_applicable)), C(reason) and C(controls), the controls the check serves (C(CIS 3.2),
      C(STIG V-261938), C(SOC 2 CC7.2), C(HIPAA 164.312(b)), C(PCI DSS 10.2.1) ...).
  type: list
  elements: dict
"""

from ansible_collections.pgtrail.audit.plugins.plugin_utils import filters
from ansible_collections.pgtrail.audit.plugins.plugin_utils.compliance import evaluate


def compliance(facts, standards=None, profiles=None):
    standards = filters.standards_keyword("compliance", standards, profiles)
    return filters.call("compliance", evaluate, facts, standards)


FilterModule = filters.filter_module(compliance)
