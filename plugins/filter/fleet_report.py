# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: fleet_report
short_description: Build the fleet compliance report's data from every host's evidence
version_added: 0.1.0
author:
  - pgtrail.audit maintainers (@pgtrail)
description:
  - Turns each host's facts (M(pgtrail.audit.audit_info)), checks
    (P(pgtrail.audit.compliance#filter)) and drift (P(pgtrail.audit.drift#filter)) into what the
    report templates of C(playbooks/report.yml) render -- a summary, the host by check matrix,
    coverage per database and per-host details.
  - A host whose evidence is empty or holds C(error) is reported as not read, with the reason.
options:
  _input:
    description: "C({host: {facts, checks, drift}}), or C({host: {error}}) for a host that could not be read."
    type: dict
    required: true
  standards:
    description: The standards checked (V(cis), V(stig), V(pgtrail), V(all)); omitted, all.
    type: list
    elements: str
  profiles:
    description: The old name of O(standards), deprecated; it is removed in release 0.2.0.
    type: list
    elements: str
  generated_at:
    description: When the evidence was gathered, shown in the report.
    type: str
"""

EXAMPLES = r"""
- name: Build the report's data
  ansible.builtin.set_fact:
    fleet: >-
      {{ {'db1': {'facts': audit, 'checks': audit | pgtrail.audit.compliance,
                  'drift': pgaudit_scope | pgtrail.audit.drift(audit)}}
         | pgtrail.audit.fleet_report(generated_at=now(utc=true).isoformat()) }}
"""

RETURN = r"""
_value:
  description:
    - C(generated_at), C(standards) (and its old name C(profiles), for one release), C(summary)
      (hosts, hosts read, compliant hosts, hosts with drift, drift count, checks, totals per
      status), C(checks) (every check reported),
      C(matrix) (per check, one cell per host with C(status) and C(reason)), C(hosts) (per host
      its versions, counts, failing checks, drift, coverage, settings by scope, weakening,
      preload, logging, lockdown, C(seed_coverage) -- the seed's "what to audit" per category, with
      its examples, verdicts (covered, partly, not_covered), what records each and the controls --,
      C(cost) -- per database, each table's changes and log bytes per day -- and facts),
      C(coverage) (one row per host and database) and C(cost_source) (where the bytes per change
      come from). Each check lists the C(controls) it serves.
  type: dict
"""

from ansible_collections.pgtrail.audit.plugins.plugin_utils import filters
from ansible_collections.pgtrail.audit.plugins.plugin_utils.report import fleet_model


def fleet_report(evidence_by_host, standards=None, generated_at=None, profiles=None):
    standards = filters.standards_keyword("fleet_report", standards, profiles)
    return filters.call("fleet_report", fleet_model, evidence_by_host, standards=standards, generated_at=generated_at)


FilterModule = filters.filter_module(fleet_report)
