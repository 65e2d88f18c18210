#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: vault_checkpoints
short_description: Keep the signed checkpoints of a source database's hash chain in the audit vault
version_added: 0.2.0
description:
  - On the vault host, in the vault database O(database) (made by M(pgtrail.audit.vault_store)),
    adds to C(<schema>.checkpoints) each of O(checkpoints) that the table does not hold yet (the same
    note), in the given order, and returns every checkpoint it holds, in the order stored.
  - The table is write-once like the vault's copy of the log - its guard refuses C(UPDATE),
    C(DELETE) and C(TRUNCATE) to every role but the vault owner - so a checkpoint once stored
    outlives a rewrite of the controller's history.
  - Stores what it is given; it does not verify signatures (the vault holds no key). The
    M(pgtrail.audit.checkpoint) action plugin verifies the notes it returns (its
    O(pgtrail.audit.checkpoint#module:notes) option), as C(playbooks/vault_verify.yml) does.
  - With O(checkpoints=[]), only reads.
extends_documentation_fragment:
  - pgtrail.audit.connection
attributes:
  check_mode:
    support: full
    description: Reports the statements that would run; changes nothing.
  diff_mode:
    support: full
    description: The notes added.
options:
  database:
    description: The vault database of the source database (C(SOURCE/DATABASE)).
    type: str
    required: true
  schema:
    description: The schema of the vault's tables there (the source's trail schema).
    type: str
    default: audit
  checkpoints:
    description:
      - Entries of the chain's history on the controller (one JSON line each in the file that
        M(pgtrail.audit.checkpoint) appends to), oldest first.
    type: list
    elements: dict
    default: []
    suboptions:
      note:
        description: The signed note.
        type: str
        required: true
      block:
        description: The block number of the checkpoint's head.
        type: int
        required: true
      at:
        description: When it was signed (UTC, ISO 8601).
        type: str
seealso:
  - module: pgtrail.audit.checkpoint
  - module: pgtrail.audit.vault_store
"""

EXAMPLES = r"""
- name: Keep the finance chain's signed checkpoints in the vault
  pgtrail.audit.vault_checkpoints:
    database: db1/finance
    checkpoints: "{{ lookup('ansible.builtin.file', history).splitlines() | map('from_json') }}"
  vars:
    history: checkpoints/db1/finance.checkpoints
  become: true
  become_user: postgres
"""

RETURN = r"""
added:
  description: How many checkpoints this run added (in check mode, would add).
  returned: always
  type: int
checkpoints:
  description: Every checkpoint the vault database holds, in the order stored (those of this run last).
  returned: always
  type: list
  elements: dict
  contains:
    origin:
      description: The chain's origin (the note's first line).
      type: str
    block:
      description: The block number.
      type: int
    note:
      description: The signed note.
      type: str
    signed_at:
      description: When it was signed.
      type: str
    stored_at:
      description: When the vault stored it (null for a note check mode would add).
      type: str
executed_queries:
  description: The statements run (in check mode, that would run).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgtrail.audit.plugins.module_utils import postgres
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_vault import checkpoints


def main():
    argument_spec = postgres.connection_argument_spec()
    argument_spec.update(
        database=dict(type="str", required=True),
        schema=dict(type="str", default="audit"),
        checkpoints=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                note=dict(type="str", required=True), block=dict(type="int", required=True), at=dict(type="str")
            ),
        ),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    module.exit_json(**checkpoints.run_checkpoints(module))


if __name__ == "__main__":
    main()
