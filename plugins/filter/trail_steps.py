# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: trail_steps
short_description: What each step of the audit_triggers role still has to do on one host
version_added: 0.1.0
author:
  - pgtrail.audit maintainers (@pgtrail)
description:
  - From C(audit_triggers_databases) and the plan of site.yml's read (M(pgtrail.audit.audit_plan)),
    the databases whose canary setup, trail, lockdown and sealer are not as the
    C(pgtrail.audit.audit_triggers) role would leave them. A database without a plan, or whose
    plan changes or fails, is to do; without a plan every step runs.
  - A sealer is kept when its unit file has the checksum of the unit the role writes (root's, C(0644))
    and systemd has it enabled, active and loaded.
  - A standby (O(in_recovery)) takes no catalog step (canary, trail, lockdown, vault login).
options:
  _input:
    description: C(audit_triggers_databases), the options of each database's trail by name.
    type: dict
    required: true
  plan:
    description: The read's plan (C(canary), C(trail), C(lockdown), C(sealer)); empty without one.
    type: dict
    default: {}
  in_recovery:
    description: Whether the server is a standby.
    type: bool
    default: false
  canary:
    description: Whether the canary (C(pgtrail_canary_role)) is wanted.
    type: bool
    default: false
  vault_source:
    description: Whether the host feeds an audit vault (roles/audit_vault).
    type: bool
    default: false
  cluster:
    description: The cluster as Debian's C(psql --cluster) names it (C(<major>/<name>)); empty elsewhere.
    type: str
    default: ""
  schema:
    description: The trail's schema (C(audit_triggers_schema)).
    type: str
    default: audit
  interval:
    description: Seconds between two seals (C(audit_triggers_seal_interval)).
    type: int
    default: 1
  user:
    description: The sealer's C(User=), the database superuser.
    type: str
    default: postgres
  found:
    description: The sealer unit file names found on the host without the read's plan.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: List the steps of the audit trail that have something to do
  ansible.builtin.debug:
    msg: "{{ audit_triggers_databases | pgtrail.audit.trail_steps(plan=__pgaudit_read.plan, cluster='17/main') }}"
  # {"canary": false, "trail": [], "lockdown": [], "seal": [], "seal_unwanted": [], "sealer": false,
  #  "vault_login": false, "steps": []}
"""

RETURN = r"""
_value:
  description:
    - C(canary), C(sealer) and C(vault_login) (booleans), C(trail), C(lockdown) and C(seal) (the
      entries of the input with something to do, as C(dict2items) gives them), C(seal_unwanted) (the
      cluster's sealer unit files no database wants, sorted) and C(steps) (the names of the steps
      with something to do, in the role's order).
  type: dict
"""

from ansible_collections.pgtrail.audit.plugins.plugin_utils import filters
from ansible_collections.pgtrail.audit.plugins.plugin_utils.trail_steps import trail_steps as steps


def trail_steps(
    databases,
    plan=None,
    in_recovery=False,
    canary=False,
    vault_source=False,
    cluster="",
    schema="audit",
    interval=1,
    user="postgres",
    found=None,
):
    return filters.call(
        "trail_steps",
        steps,
        databases,
        plan=plan,
        in_recovery=in_recovery,
        canary=canary,
        vault_source=vault_source,
        cluster=cluster,
        schema=schema,
        interval=interval,
        user=user,
        found=found,
    )


FilterModule = filters.filter_module(trail_steps)
