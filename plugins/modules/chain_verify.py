#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: chain_verify
short_description: Verify the hash chain of a PostgreSQL audit log
version_added: 0.1.0
description:
  - Verifies the hash chain of the audit log of one database (M(pgtrail.audit.audit_trail) with
    C(hash_chain) on) and returns C(ok), or the first bad position and why - a row changed after
    it was sealed, a row deleted, a row added to a sealed block, a row older than the chain, a
    block whose header does not hash or link.
  - "Chain v2 (C(docs/chain-v2.md)): the content check is one streaming pass over the log in SQL
    this module sends (not a function the database holds); the block headers are re-hashed and
    re-linked in the module's Python."
  - Deleting the last rows together with their blocks, or rewriting everything after some row
    consistently, leaves a chain that is consistent in itself. Give the last signed checkpoint as
    O(checkpoint) and the module also checks that the chain still has that root at that size
    (RV(extends)); C(playbooks/verify.yml) keeps the signed checkpoints on the controller.
  - First seals the rows of the transactions that ended since the last block (C(<schema>.seal()),
    which the sealer's service otherwise runs every second), in a transaction of its own; then
    verifies in a read-only transaction. It changes nothing else.
  - On a chain upgraded from v1, the v1 rows (block 0) are walked by v1's C(<schema>.verify_chain()),
    with O(expected_head) when given; a log still on v1 (not upgraded by an C(audit_trail) run yet)
    is sealed and verified as v1 did.
  - The result is returned, not judged - the task does not fail on a broken chain; test C(ok).
attributes:
  check_mode:
    description: Verifies without sealing; C(changed) says whether rows wait to be sealed.
  diff_mode:
    support: none
    description: It compares nothing; the result says what was found.
extends_documentation_fragment:
  - pgtrail.audit.connection
  - pgtrail.audit.trail
options:
  checkpoint:
    description:
      - The last signed checkpoint's values, a dictionary with C(size) (the number of rows it
        covered, v1 rows included) and C(root) (base64 of the hash of the block ending there),
        as RV(head) returned them. The chain must still have that root at that size.
    type: dict
  expected_head:
    description:
      - A v1 chain head exported earlier (a dictionary with C(seq) and C(hash), 64 hexadecimal
        digits; without the hash only the position is checked). Checked against a chain still on
        v1, or against the v1 rows (block 0) of a chain upgraded to v2.
    type: dict
  seal:
    description:
      - Seal the rows waiting before verifying, so that RV(unsealed) is normally 0.
    type: bool
    default: true
  lock_timeout:
    description:
      - Seconds to wait for a lock (the chain head's row while sealing, the log while verifying)
        before giving up. The module then fails, naming the sessions that blocked it (from
        C(pg_blocking_pids()), in RV(blockers)), and changes nothing.
      - Only the trail's owner and superusers can take a lock that blocks it; no advisory key is
        involved.
    type: int
    default: 30
notes:
  - After a restore into another cluster, C(seal()) refuses to seal (that cluster's transaction ids
    are below the last block's); the chain up to the last block still verifies and RV(reason) says so.
seealso:
  - module: pgtrail.audit.audit_trail
  - module: pgtrail.audit.audit_lockdown
"""

EXAMPLES = r"""
- name: Verify the finance log against the last signed checkpoint
  become: true
  become_user: postgres
  pgtrail.audit.chain_verify:
    database: finance
    checkpoint:
      size: 1000000
      root: KMislKjXHUCDDW0uHNAdb9Err3lNTGFyU+Jb7oEbOpQ=
  register: chain

- name: Stop when the chain is broken or no longer extends the checkpoint
  ansible.builtin.assert:
    that: chain.ok
    fail_msg: "{{ chain.reason }}"
"""

RETURN = r"""
ok:
  description: Whether the content check is clean and, with O(checkpoint), the chain extends it.
  returned: always
  type: bool
  sample: true
checked:
  description: The rows verified.
  returned: always
  type: int
  sample: 1000000
broken:
  description:
    - The first bad position, or null. C(position) is the chain position, C(id) the log row found
      there (null when it is gone), C(reason) what is wrong.
  returned: always
  type: dict
  sample: {position: 2, id: 4, reason: "the row does not hash to the leaf sealed at its position: it was changed"}
extends:
  description: With O(checkpoint), whether the chain still has the checkpoint's root at its size; else null.
  returned: always
  type: bool
  sample: true
head:
  description:
    - The head of the chain, what a checkpoint signs - C(origin) (C(pgtrail.audit/chain/<chain id>)),
      C(size) (the last sealed position, v1 rows included), C(root) (base64 of the last block's
      hash) and C(block) (its number).
    - For a chain still on v1, also C(seq) and C(hash) (hex), the O(expected_head) of the next run;
      C(origin) and C(block) are null there.
  returned: always
  type: dict
  sample: {origin: pgtrail.audit/chain/6f1c2d0e-2b1a-4c55-9a53-1b3c0f0a9e11, size: 7,
           root: KMislKjXHUCDDW0uHNAdb9Err3lNTGFyU+Jb7oEbOpQ=, block: 3}
unsealed:
  description: Committed log rows no block holds yet.
  returned: always
  type: int
  sample: 0
oldest_unsealed_age:
  description: Seconds since the oldest unsealed row was written (its C(wall_at)), or null.
  returned: always
  type: float
  sample: 0.4
sealed:
  description: Rows this run sealed before verifying.
  returned: always
  type: int
  sample: 3
reason:
  description: What was found, in words.
  returned: always
  type: str
  sample: "position 2 (id 4): the row does not hash to the leaf sealed at its position: it was changed"
blockers:
  description:
    - When the module failed because it waited longer than O(lock_timeout), the sessions that
      blocked it, each with C(pid), C(role), C(application_name), C(backend_type), C(state) and
      C(query).
  returned: on failure after a lock wait
  type: list
  elements: dict
  sample: [{pid: 4242, role: postgres, application_name: psql, backend_type: client backend,
            state: idle in transaction, query: "SELECT * FROM audit.chain_head FOR UPDATE"}]
executed_queries:
  description: The statements run.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail import options, verify


def main():
    module = AnsibleModule(
        argument_spec=options.argument_spec(
            checkpoint=dict(type="dict"),
            expected_head=dict(type="dict"),
            seal=dict(type="bool", default=True),
            lock_timeout=dict(type="int", default=30),
        ),
        supports_check_mode=True,
    )
    # Its own transactions: sealing, then verifying read-only.
    verify.run(module)


if __name__ == "__main__":
    main()
