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
  - Walks the hash chain of the audit log of one database (M(pgtrail.audit.audit_trail) with
    C(hash_chain) on) with C(<schema>.verify_chain()) and returns C(ok), or the first broken link -
    a row changed after it was sealed, a row that does not link to the one before it, a missing
    or duplicated position - with the expected and the found hash.
  - The walk is one streaming pass in chain order (the C(chain_seq) index and a window function),
    so a million rows take seconds.
  - Deleting the last rows leaves a chain that is consistent in itself. Give the head returned by
    an earlier run as O(expected_head) and the module also checks that the log still reaches it,
    with the same hash; C(playbooks/verify.yml) keeps the heads on the controller for that.
  - First seals the rows that wait to be chained (those of C(REPEATABLE READ) transactions, or of
    writers that left them to another), in a transaction of its own; then verifies in a read-only
    transaction. It changes nothing else.
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
  expected_head:
    description:
      - The head of the chain exported earlier (the C(head) this module returned), a dictionary with
        C(seq) and C(hash) (64 hexadecimal digits; without it only the position is checked).
    type: dict
  seal:
    description:
      - Seal the rows waiting to be chained before verifying, so that C(unsealed) is normally 0.
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
  - The verifier reads only; C(pgtrail.audit.audit_info) calls the same function read-only for the
    compliance report.
seealso:
  - module: pgtrail.audit.audit_trail
  - module: pgtrail.audit.audit_lockdown
"""

EXAMPLES = r"""
- name: Verify the finance log against the head exported last time
  become: true
  become_user: postgres
  pgtrail.audit.chain_verify:
    database: finance
    expected_head: "{{ lookup('ansible.builtin.file', 'chain-heads/db1/finance.json') | from_json }}"
  register: chain

- name: Stop when the chain is broken or no longer reaches the exported head
  ansible.builtin.assert:
    that: chain.ok
    fail_msg: "{{ chain.reason }}"
"""

RETURN = r"""
ok:
  description: Whether the chain verifies and reaches O(expected_head).
  returned: always
  type: bool
  sample: true
checked:
  description: The rows verified (before the first broken link when the chain is broken).
  returned: always
  type: int
  sample: 1000000
broken:
  description:
    - The first broken link, or null. C(id) is the log row where the break shows (null when the row
      is gone), C(seq) the chain position, C(expected) the hash the chain expects there and C(found)
      the hash found (hex; C(found) is null when the row is gone).
  returned: always
  type: dict
  sample: {id: 4711, seq: 4702, expected: 9f2c..., found: 03ab...}
head:
  description: The last position of the chain and its hash (hex); the O(expected_head) of the next run.
  returned: always
  type: dict
  sample: {seq: 1000000, hash: 5d41402abc4b2a76b9719d911017c592ae2a34fd3bb3f7a5dd2ecf2e4a6ee1c3}
unsealed:
  description: Log rows not chained yet.
  returned: always
  type: int
  sample: 0
sealed:
  description: Rows this run sealed before verifying.
  returned: always
  type: int
  sample: 3
reason:
  description: What was found, in words.
  returned: always
  type: str
  sample: "the row at position 4702 (id 4711) was changed after it was sealed: its content no longer hashes to ..."
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
