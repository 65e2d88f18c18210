#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: vault_source
short_description: Publish the audit trail's log to the audit vault, inserts only
version_added: 0.2.0
description:
  - On a source primary, in each of O(databases), makes the publication O(publication) of the
    trail's log (C(<schema>.audit_log)) that publishes inserts only (C(publish = 'insert')), through
    the partition root; an C(UPDATE), C(DELETE) or C(TRUNCATE) of the log never reaches the vault.
  - Makes the vault's replication login O(user) with the least it needs - C(LOGIN REPLICATION),
    C(CONNECT) on the database, C(USAGE) on the trail's schema and C(SELECT) on the log (for the
    initial copy), nothing else - and sets its password only when it differs.
  - Returns, per database, the slot name and the log's columns, which
    M(pgtrail.audit.vault_store) needs on the vault.
  - Refuses, changing nothing in that database, a database without the trail (in check mode
    it reports the database without columns) and a publication of that name that is
    C(FOR ALL TABLES).
  - With O(databases=[]), makes the login only (the C(audit_triggers) role does, before its lockdown
    lists the login among the log's readers).
  - Warns when C(wal_level) is not C(logical) or C(max_slot_wal_keep_size) is unlimited; it sets
    neither (system settings go through M(pgtrail.audit.pgaudit_settings)).
extends_documentation_fragment:
  - pgtrail.audit.connection
  - pgtrail.audit.vault
  - pgtrail.audit.vault.publication
options:
  databases:
    description: The databases whose trail the vault receives (none - the login only).
    type: list
    elements: str
    required: true
  reload:
    description: Reload the server's configuration at the end (after a change to C(pg_hba.conf)).
    type: bool
    default: false
seealso:
  - module: pgtrail.audit.vault_store
  - module: pgtrail.audit.vault_compare
"""

EXAMPLES = r"""
- name: Publish the finance trail to the vault
  become: true
  become_user: postgres
  pgtrail.audit.vault_source:
    databases: [finance]
    password: "{{ vault_replication_password }}"
  register: published
"""

RETURN = r"""
databases:
  description:
    - Per database, the publication, the slot the vault's subscription uses, the log's columns and
      whether the trail is there (C(trail); false only in check mode before the trail's first build,
      with no columns).
  returned: always
  type: dict
  sample: {finance: {publication: pgtrail_vault, slot_name: pgtrail_vault_16384, columns: [{name: id, type: bigint}],
                     trail: true}}
login_created:
  description: Whether this run created (in check mode, would create) the replication login.
  returned: always
  type: bool
hba_file:
  description: The server's C(pg_hba.conf), where the vault's login needs a line.
  returned: always
  type: str
  sample: /etc/postgresql/17/main/pg_hba.conf
wal_level:
  description: The running C(wal_level) (the vault needs C(logical)).
  returned: always
  type: str
  sample: logical
max_slot_wal_keep_size:
  description: The running C(max_slot_wal_keep_size) (C(-1) is unlimited).
  returned: always
  type: str
  sample: 10GB
executed_queries:
  description: The statements run (in check mode, that would run); passwords appear as given.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgtrail.audit.plugins.module_utils._audit_vault import common, source


def main():
    argument_spec = common.argument_spec(
        ("schema", "user", "password", "publication"),
        databases=dict(type="list", elements="str", required=True),
        reload=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    module.exit_json(**source.run_source(module))


if __name__ == "__main__":
    main()
