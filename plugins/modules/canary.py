#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: canary
short_description: Prove that a PostgreSQL server's auditing works now
version_added: 0.1.0
description:
  - Creates, once, a dedicated login role (O(role)) with the least rights - C(LOGIN) and nothing
    else but C(SELECT) and C(INSERT) on its own table C(<schema>.beat) in each database it probes,
    and, through M(pgtrail.audit.audit_trail)'s C(app_roles), C(log_event()) - and that table.
  - Then, for every declared scope in O(scope) (the C(pgaudit_scope) fact of the
    C(pgtrail.audit.pgaudit) role), opens a real session of that scope as O(role) and runs a
    known statement of each class it can (C(WRITE), C(READ), C(DDL) on a temporary table,
    C(FUNCTION) with a C(DO) block), each carrying a fresh marker, and looks for their C(AUDIT)
    lines in the server log. A line missing where the scope logs that class, or present where it
    does not (a C(none) scope), is a problem. For a role scope, the canary role borrows, for that
    session only, the C(pgaudit.*) rows the catalog holds for that role, so the session gets what
    that role's sessions get.
  - The server log is found from the server's settings - with C(logging_collector), the file
    C(pg_current_logfile()) names; without it, where the postmaster's standard error goes (a file,
    or the systemd journal) - and a destination that nobody can read (a deleted file, C(/dev/null),
    an unwritable C(log_directory), C(syslog)) is a problem.
  - In each of O(trail_databases), writes a row into its table, which must be under the trail,
    and an application event with C(log_event()), and finds both in the log; every table of the
    trail's registry must still have its triggers.
  - The canary's password is new for each run, sent as a SCRAM verifier and removed at the end.
    Its sessions, and the module's own, use C(application_name) C(pgtrail-canary).
  - The result is returned, not judged - the task does not fail when auditing is off; test RV(ok).
    C(playbooks/canary.yml) judges it and names the host and what is missing.
extends_documentation_fragment:
  - pgtrail.audit.connection
attributes:
  check_mode:
    support: full
    description: Reports whether the role and tables would be created, and runs no probe (probes write).
  diff_mode:
    support: none
    description: The result says what was found.
options:
  role:
    description: The canary's login role, created when missing.
    type: str
    default: pgtrail_canary
  schema:
    description: The canary's own schema, created in each database probed.
    type: str
    default: pgtrail_canary
  trail_schema:
    description: The schema of the audit trail in O(trail_databases).
    type: str
    default: audit
  scope:
    description:
      - The declared pgaudit scope, C(system), C(databases) and C(roles), as the
        C(pgtrail.audit.pgaudit) role's C(pgaudit_scope) fact holds it. Empty probes nothing.
    type: dict
    default: {}
  home_database:
    description: Where the session of the system scope runs.
    type: str
    default: postgres
  databases:
    description: Further databases that get the canary's table (without a probe).
    type: list
    elements: str
    default: []
  trail_databases:
    description: The databases with an audit trail, where the canary writes a row and an event.
    type: list
    elements: str
    default: []
  setup_only:
    description: Create the role and the tables, and probe nothing (the C(audit_triggers) role does this).
    type: bool
    default: false
  read_log:
    description:
      - Look for the AUDIT lines in the server log. False leaves that to the caller (another store
        of the lines, such as a log vault), which finds the markers in RV(sessions).
    type: bool
    default: true
  log_file:
    description: The server log file, when it cannot be found from the server's settings.
    type: path
  canary_host:
    description:
      - Where the canary role connects with its password. Empty tries the local socket, then
        C(127.0.0.1); C(pg_hba.conf) must let it in with a password on one of them.
    type: str
    default: ''
notes:
  - Runs on primaries; on a standby it returns RV(skipped_reason).
seealso:
  - module: pgtrail.audit.audit_trail
  - module: pgtrail.audit.chain_verify
"""

EXAMPLES = r"""
- name: Prove the declared scopes log what they should, and that the trail writes
  become: true
  become_user: postgres
  pgtrail.audit.canary:
    scope: "{{ pgaudit_scope }}"
    trail_databases: [finance]
  register: canary

- name: Stop when auditing is off somewhere
  ansible.builtin.assert:
    that: canary.ok
    fail_msg: "{{ canary.problems | join('; ') }}"
"""

RETURN = r"""
ok:
  description: Whether every expected line, row and event was found and no unexpected line.
  returned: always
  type: bool
problems:
  description: What is missing or wrong, one sentence each.
  returned: always
  type: list
  elements: str
  sample:
    - "system: no AUDIT line for WRITE (write) in database postgres within 5 s; the session's pgaudit.log
      is 'none', declared 'write, ddl' (from system)"
log:
  description:
    - Where the server log was read (C(source) file or journald, C(path), C(unit)) and the settings that said so.
  returned: when the canary ran
  type: dict
sessions:
  description:
    - One per declared scope - C(scope), C(database), C(role) (whose settings were borrowed),
      C(expect) (the declared pgaudit.log), C(source), C(session_log) (what the session had),
      C(probes) (each with C(cls), C(label), C(marker), C(expected), C(found) and C(seconds), the
      time from the statement to its line), C(ok), C(problems) and, for a scope that logs nothing,
      C(note).
  returned: always
  type: list
  elements: dict
trail:
  description:
    - One per trail database - C(database), C(row_id) and C(row_seconds) (the canary's row in the
      log), C(event_id) and C(event_seconds) (its event), C(ok), C(problems).
  returned: always
  type: list
  elements: dict
ready:
  description: The databases whose canary table exists (in check mode, those that had it already).
  returned: always
  type: list
  elements: str
skipped_reason:
  description: Why nothing was probed (check mode, a standby).
  returned: when nothing was probed
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgtrail.audit.plugins.module_utils import canary


def main():
    argument_spec = canary.argument_spec()
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    module.exit_json(**canary.run(module))


if __name__ == "__main__":
    main()
