#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: vault_compare
short_description: Compare a source's audit log with the vault's copy, by id
version_added: 0.2.0
description:
  - Run on the vault host. Reads the vault's copy of one source database's log (O(database)) and
    the source's log (over O(conninfo) as the vault's replication login, which may read the log),
    both in id order, streamed, and compares each row's content (an MD5 of its text under the same
    session settings on both ends).
  - Reports by id the rows the vault holds that are missing on the source (deleted, truncated) or
    altered there, and rows held twice in the vault; rows of the source that have not reached the
    vault yet are counted apart (replication lag, or a vault that was down).
  - Reads only, on both ends; the result is returned, not judged - test RV(ok).
extends_documentation_fragment:
  - pgtrail.audit.connection
  - pgtrail.audit.vault
  - pgtrail.audit.vault.source
attributes:
  check_mode:
    support: full
    description: Reads only; the same in check mode.
  diff_mode:
    support: none
    description: It compares; the result says what differs.
options:
  database:
    description: The vault database of the source database.
    type: str
    required: true
  limit:
    description: At most this many ids listed per kind of difference (all are counted).
    type: int
    default: 1000
seealso:
  - module: pgtrail.audit.vault_store
"""

EXAMPLES = r"""
- name: Compare db1's finance log with the vault
  pgtrail.audit.vault_compare:
    database: db1/finance
    conninfo: host=db1.example.com port=5432
    source_database: finance
    password: "{{ vault_replication_password }}"
  become: true
  become_user: postgres
  register: compared

- name: Fail naming the rows a superuser of db1 deleted or altered
  ansible.builtin.assert:
    that: compared.ok
    fail_msg: "{{ compared.reason }}"
"""

RETURN = r"""
ok:
  description: No row of the vault is missing or altered on the source, none is held twice.
  returned: always
  type: bool
missing_on_source:
  description: Ids of rows the vault holds that the source no longer has.
  returned: always
  type: list
  elements: int
altered_on_source:
  description: Ids of rows whose content differs on the source.
  returned: always
  type: list
  elements: int
duplicated_in_vault:
  description: Ids held more than once in the vault.
  returned: always
  type: list
  elements: int
not_in_vault:
  description: Ids of the source's rows not in the vault (yet).
  returned: always
  type: list
  elements: int
counts:
  description: How many rows of each kind (the lists stop at O(limit)).
  returned: always
  type: dict
vault_rows:
  description: Rows read from the vault.
  returned: always
  type: int
source_rows:
  description: Rows read from the source.
  returned: always
  type: int
columns:
  description: The columns compared (those both ends have).
  returned: always
  type: list
  elements: str
reason:
  description: What was found, in words.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgtrail.audit.plugins.module_utils._audit_vault import common, compare


def main():
    argument_spec = common.argument_spec(
        ("schema", "conninfo", "source_database", "user", "password"),
        database=dict(type="str", required=True),
        limit=dict(type="int", default=1000),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    module.exit_json(**compare.run_compare(module))


if __name__ == "__main__":
    main()
