#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: audit_plan
short_description: Read a PostgreSQL server and plan what the collection's modules would change, in one run
version_added: 0.1.0
description:
  - Reads the server as M(pgtrail.audit.audit_info) does (without verifying the hash chain) and,
    in the same module run, plans the steps the collection's roles take, changing nothing -
    O(settings) as M(pgtrail.audit.pgaudit_settings), O(object_audit) as
    M(pgtrail.audit.object_audit), O(canary) as M(pgtrail.audit.canary) with
    C(setup_only=true), and per database of O(trails) the trail as
    M(pgtrail.audit.audit_trail) and its lockdown as M(pgtrail.audit.audit_lockdown).
  - Each step is planned by that module's own code in check mode, so RV(plan) holds what the
    module would return with C(--check), and one module run replaces one per step on a host
    where nothing is to change (the roles skip a step whose plan is empty).
  - With O(sealer_units), it also reads the hash chain's sealer units in C(/etc/systemd/system)
    (their checksum, owner, group and mode, and each service's state as C(systemctl show) reports it),
    which the C(pgtrail.audit.audit_triggers) role compares with its templates.
  - A step that the module would refuse or fail is not a failure here; its plan has C(failed) and
    C(msg), and the module's real run reports it.
  - The warnings of the steps whose plan changes nothing are this task's warnings (the others
    warn when their module runs).
  - On a standby (in recovery) only the system-wide settings are planned; catalog changes
    replicate from the primary. The settings are planned once pgaudit is loaded, since the
    C(pgaudit.*) parameters exist only then.
extends_documentation_fragment:
  - pgtrail.audit.connection
attributes:
  check_mode:
    support: full
    description: Reads and plans only; runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing is changed; the plans leave out the steps' diffs.
options:
  databases:
    description:
      - The databases whose extension, trail and log are read, as
        O(pgtrail.audit.audit_info#module:databases); omitted, every database that accepts
        connections.
    type: list
    elements: str
  trail_schema:
    description: The schema of the trail the read looks at, as O(pgtrail.audit.audit_info#module:trail_schema).
    type: str
    default: audit
  settings:
    description:
      - The options of M(pgtrail.audit.pgaudit_settings) to plan (C(system), C(server_settings),
        C(databases), C(roles), C(remove_unlisted), C(profile)).
    type: dict
  object_audit:
    description: The options of M(pgtrail.audit.object_audit) to plan (C(role), C(grants), C(exclusive)).
    type: dict
  canary:
    description:
      - The options of M(pgtrail.audit.canary) whose setup to plan (C(role), C(schema),
        C(trail_databases)); C(setup_only) is always true.
    type: dict
  sealer_units:
    description:
      - Read the sealer's unit files (C(pgtrail-seal-*.service), and C(.timer) of earlier versions) into C(sealer)
        of RV(plan).
    type: bool
    default: false
  trails:
    description:
      - The trail of each database, a dictionary from the database's name to its options, as the
        C(audit_triggers_databases) of the C(pgtrail.audit.audit_triggers) role; its options are those of
        M(pgtrail.audit.audit_trail) (C(tables), C(schemas), C(exclude_columns), C(actor_setting),
        C(actor_expression), C(require_actor), C(partition), C(retention_months), C(hash_chain),
        C(state)).
    type: dict
  trail_options:
    description:
      - Options of M(pgtrail.audit.audit_trail) every database of O(trails) takes (C(schema),
        C(app_roles), and C(actor_setting) unless the database gives its own).
    type: dict
    default: {}
  lockdown:
    description:
      - The options of M(pgtrail.audit.audit_lockdown) (C(schema), C(owner), C(app_roles),
        C(reader_roles), C(revoke_parameter_grants)), planned in each database of O(trails) whose
        C(state) is C(present).
    type: dict
  evidence:
    description:
      - Read the evidence M(pgtrail.audit.audit_info) returns (who is audited, and per database the
        trail's coverage, its lockdown, hash chain, replication, backup needs, write rates, object
        audit and application events).
      - V(false) reads only what the plans and the roles' decisions need - the server's facts
        (C(major), C(in_recovery), C(data_directory), C(config_file), ...), C(preload), C(pgaudit)
        with each database's extension version, C(databases), C(unreachable_databases) and
        C(closed_databases) - with one query per database instead of about fifteen. The roles'
        read, on every run of C(site.yml), takes V(false).
    type: bool
    default: true
notes:
  - Run it as a superuser (C(become_user=postgres) on the host), as the modules it plans.
seealso:
  - module: pgtrail.audit.audit_info
  - module: pgtrail.audit.pgaudit_settings
  - module: pgtrail.audit.object_audit
  - module: pgtrail.audit.audit_trail
  - module: pgtrail.audit.audit_lockdown
"""

EXAMPLES = r"""
- name: Read the server and plan the finance trail and its lockdown
  pgtrail.audit.audit_plan:
    databases: [finance]
    trails:
      finance: {tables: [public.payments], hash_chain: true}
    trail_options: {app_roles: [clerk]}
    lockdown: {app_roles: [clerk], reader_roles: [auditor]}
  become: true
  become_user: postgres
  register: read

- name: Say whether the trail would change
  ansible.builtin.debug:
    msg: "{{ read.plan.trail.finance.changed }}"
"""

RETURN = r"""
plan:
  description:
    - The result each step's module would return in check mode, without its diff - under
      C(settings), C(object_audit), C(canary), and per database under C(trail) and C(lockdown) -
      or, for a step its module would refuse, C(failed) and C(msg). Only the steps asked for and
      planned are there.
    - With O(sealer_units), C(sealer) holds each sealer unit file by name - C(checksum) (SHA-1),
      C(owner), C(group), C(mode), and for a service C(enabled) and C(active) (systemd's
      C(UnitFileState) and C(ActiveState)) and C(reload) (systemd's C(NeedDaemonReload)), None
      where systemd cannot say.
  returned: always
  type: dict
  sample:
    settings: {changed: false, changes: [], restart_required: false, pending_restart: []}
    canary: {changed: false, ready: [finance]}
    trail: {finance: {changed: false, executed_queries: []}}
    lockdown: {finance: {changed: true, executed_queries: ["GRANT USAGE ON SCHEMA \"audit\" TO \"auditor\""]}}
server_version:
  description:
    - Every fact M(pgtrail.audit.audit_info) returns (C(major), C(in_recovery), C(preload),
      C(pgaudit), C(trail), ...) is returned under its own name, as there; this is one of them.
      With O(evidence=false), only those O(evidence) names.
  returned: always
  type: str
  sample: "17.7 (Debian 17.7-3)"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgtrail.audit.plugins.module_utils import audit_plan, postgres


def main():
    argument_spec = postgres.connection_argument_spec()
    argument_spec.update(
        databases=dict(type="list", elements="str"),
        trail_schema=dict(type="str", default="audit"),
        settings=dict(type="dict"),
        object_audit=dict(type="dict"),
        canary=dict(type="dict"),
        sealer_units=dict(type="bool", default=False),
        trails=dict(type="dict"),
        trail_options=dict(type="dict", default={}),
        lockdown=dict(type="dict"),
        evidence=dict(type="bool", default=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    module.exit_json(**audit_plan.run(module))


if __name__ == "__main__":
    main()
