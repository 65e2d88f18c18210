#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: vault_logs
short_description: Keep a source's server log, AUDIT lines parsed, in the audit vault
version_added: 0.2.0
description:
  - On the vault host, in the vault database O(database) (made by M(pgtrail.audit.vault_store)),
    makes in schema O(schema) the tables C(server_log) (one row per line of the source's jsonlog,
    pgaudit's AUDIT message parsed into C(audit_type), C(statement_id), C(substatement_id),
    C(class), C(command), C(object_type), C(object_name), C(statement), C(parameter), C(rows)),
    C(server_log_files) (how far each file was read) and C(server_log_gaps) (lines lost). They are
    owned by O(owner), readable by O(reader_roles), and guarded like the log's copy (C(UPDATE),
    C(DELETE), C(TRUNCATE) refused to every role but the owner).
  - With O(ship=true), then pulls what the source logged since the last run, through the
    connection of the subscription O(subscription) and the functions
    M(pgtrail.audit.vault_log_source) made, storing each chunk's lines with the file's new offset
    in one transaction. The role's timer runs the same code every few seconds.
  - Returns every gap the vault has recorded for this source (RV(gaps)); RV(ok) is false when there is one.
extends_documentation_fragment:
  - pgtrail.audit.connection
attributes:
  check_mode:
    support: full
    description: Reports the tables it would make; ships nothing.
  diff_mode:
    support: none
    description: No diff; RV(executed_queries) holds every statement.
options:
  database:
    description: The vault database of the source (that of its first trail database).
    type: str
    required: true
  schema:
    description: The schema of the source's copy in it.
    type: str
    default: audit
  owner:
    description: The NOLOGIN vault owner.
    type: str
    default: vault_owner
  reader_roles:
    description: Roles that may read the vault.
    type: list
    elements: str
    default: []
  subscription:
    description: The vault database's subscription, whose connection reaches the source.
    type: str
    default: pgtrail_vault
  ship:
    description: Ship the source's new lines now (after making the tables).
    type: bool
    default: false
seealso:
  - module: pgtrail.audit.vault_log_source
  - module: pgtrail.audit.vault_store
"""

EXAMPLES = r"""
- name: Ship db1's server log into the vault now, and list its gaps
  become: true
  become_user: postgres
  pgtrail.audit.vault_logs:
    database: db1/finance
    reader_roles: [auditor]
    ship: true
  register: shipped
"""

RETURN = r"""
executed_queries:
  description: The statements run to make the tables (in check mode, that would run).
  returned: always
  type: list
  elements: str
database:
  description: The vault database that keeps the source's server log (its first trail database's).
  returned: always
  type: str
  sample: db1/finance
shipped:
  description:
    - What this run shipped - C(lines), C(audit_lines), C(files) read, C(gaps) found (sentences), and
      C(busy) when another shipping held the lock.
  returned: always
  type: dict
  sample: {lines: 12, audit_lines: 7, files: 1, gaps: [], busy: false}
gaps:
  description:
    - Every gap recorded for this source - C(kind) (lines, repeated, vanished, replaced, shrunk,
      unreadable), C(file), C(session_id), C(first_line), C(last_line), C(detail), C(found_at).
  returned: always
  type: list
  elements: dict
ok:
  description: Whether no gap is recorded.
  returned: always
  type: bool
reason:
  description: The gaps in words.
  returned: always
  type: str
  sample: "session 674b1e4a.2f3: line(s) 4 to 9 missing (before postgresql-2026-11-30_120000.json)"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgtrail.audit.plugins.module_utils import vault_logs_setup


def main():
    module = AnsibleModule(argument_spec=vault_logs_setup.store_argument_spec(), supports_check_mode=True)
    module.exit_json(**vault_logs_setup.run_store(module))


if __name__ == "__main__":
    main()
