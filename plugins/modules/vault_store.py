#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: vault_store
short_description: Keep one source database's audit log in the audit vault
version_added: 0.2.0
description:
  - On the vault host, makes the vault database O(database) for one source database, owned by
    the NOLOGIN vault owner O(owner), closed to C(PUBLIC), open (C(CONNECT), C(USAGE), C(SELECT))
    to O(reader_roles) only.
  - In it, in schema O(schema), a copy of the source's log (C(audit_log), the O(columns) the
    source has, plus C(vault_received_at)), the owner's record C(vault_owner_actions) and
    C(checkpoints) for the chain's signed checkpoints. On each of them a statement trigger,
    C(ENABLE ALWAYS), refuses C(UPDATE), C(DELETE) and C(TRUNCATE) to every role but the owner
    (a superuser must C(SET ROLE) to it), and records in C(vault_owner_actions) what the owner does.
  - Then the subscription O(subscription) to the source's publication, over O(conninfo) as
    O(user), with the slot O(slot_name) (made on the source when the subscription is created; the
    initial copy brings the log's existing rows). A connection string or publication that
    changed is altered, a disabled subscription enabled.
extends_documentation_fragment:
  - pgtrail.audit.connection
  - pgtrail.audit.vault
  - pgtrail.audit.vault.publication
  - pgtrail.audit.vault.source
options:
  database:
    description: The vault database of this source database.
    type: str
    required: true
  owner:
    description: The NOLOGIN role that owns the vault's databases (created when missing).
    type: str
    default: vault_owner
  reader_roles:
    description: Roles that may read the vault (they must exist).
    type: list
    elements: str
    default: []
  columns:
    description: The source log's columns, each C(name) and C(type) (RV(pgtrail.audit.vault_source#module:databases)).
    type: list
    elements: dict
    required: true
  slot_name:
    description: The slot on the source (RV(pgtrail.audit.vault_source#module:databases)).
    type: str
    required: true
  subscription:
    description: The subscription's name in the vault database.
    type: str
    default: pgtrail_vault
notes:
  - The subscription's connection string, password included, is readable by superusers of the
    vault in C(pg_subscription).
seealso:
  - module: pgtrail.audit.vault_source
  - module: pgtrail.audit.vault_compare
"""

EXAMPLES = r"""
- name: Keep db1's finance log in the vault
  become: true
  become_user: postgres
  pgtrail.audit.vault_store:
    database: db1/finance
    reader_roles: [auditor]
    columns: "{{ published.databases.finance.columns }}"
    slot_name: "{{ published.databases.finance.slot_name }}"
    conninfo: host=db1.example.com port=5432
    source_database: finance
    password: "{{ vault_replication_password }}"
"""

RETURN = r"""
database:
  description: The vault database.
  returned: always
  type: str
  sample: db1/finance
subscription:
  description: The subscription's name, slot and whether this run created it.
  returned: always
  type: dict
  sample: {name: pgtrail_vault, slot_name: pgtrail_vault_16384, created: false}
problems:
  description: Differences between the source's columns and the copy's that the module leaves to the operator.
  returned: always
  type: list
  elements: str
executed_queries:
  description: The statements run (in check mode, that would run), the password masked.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgtrail.audit.plugins.module_utils._audit_vault import common, store


def main():
    argument_spec = common.argument_spec(
        ("schema", "conninfo", "source_database", "user", "password", "publication"),
        database=dict(type="str", required=True),
        owner=dict(type="str", default="vault_owner"),
        reader_roles=dict(type="list", elements="str", default=[]),
        columns=dict(type="list", elements="dict", required=True),
        slot_name=dict(type="str", required=True),
        subscription=dict(type="str", default="pgtrail_vault"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    module.exit_json(**store.run_store(module))


if __name__ == "__main__":
    main()
