#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: object_audit
short_description: Grant a pgaudit object-audit role the privileges it audits
version_added: 0.1.0
description:
  - pgaudit object auditing logs a statement on a table (an C(AUDIT) line of type C(OBJECT)) when the role
    named by C(pgaudit.role) holds that statement's privilege on the table or on a column it uses.
    This module keeps that role and its privileges as declared.
  - Ensures the role exists as C(NOLOGIN), and refuses a role that can log in or is a superuser.
  - Grants the declared C(SELECT), C(INSERT), C(UPDATE) and C(DELETE) privileges on tables or
    columns and, with O(exclusive), revokes every other privilege the role holds on tables in
    the databases named in O(grants).
  - Checks every table and column before it changes anything. The grants of all databases are
    applied in one transaction per database, committed together once all of them succeeded.
  - Does not set C(pgaudit.role); set it with M(pgtrail.audit.pgaudit_settings)
    (its O(pgtrail.audit.pgaudit_settings#module:system) option, key C(role)).
extends_documentation_fragment:
  - pgtrail.audit.connection
attributes:
  check_mode:
    support: full
    description: Reports the grants it would leave in place and the statements that would run.
  diff_mode:
    support: full
    description: Shows the role's grants before and after.
options:
  role:
    description:
      - The object-audit role, created C(NOLOGIN) when missing. Taken as the catalog stores it
        (never folded), as C(pgaudit.role) names it.
    type: str
    default: audit_objects
  grants:
    description:
      - The privileges to audit.
    type: list
    elements: dict
    default: []
    suboptions:
      database:
        description: The database of the table.
        type: str
        required: true
      table:
        description:
          - The table, view or materialized view as C(schema.table); C(public) when no schema is
            given.
          - Read as in SQL. Unquoted names fold ASCII letters only (C(Äpfel) stays C(Äpfel));
            double-quote a name that keeps its case or holds a dot, a space or a quote. A name
            longer than 63 bytes is refused.
        type: str
        required: true
      privileges:
        description:
          - Some of C(SELECT), C(INSERT), C(UPDATE), C(DELETE), in any case.
          - C(TRUNCATE) is refused because pgaudit does not audit it by object.
        type: list
        elements: str
        required: true
      columns:
        description:
          - Audit only statements using these columns. C(DELETE) has no column form.
          - Column names are read as in SQL, like O(grants[].table).
        type: list
        elements: str
  exclusive:
    description:
      - Revoke every privilege the role holds on tables in the databases of O(grants) that is not
        declared. The role is a dedicated audit role, so any other privilege makes pgaudit log
        what nobody asked for.
      - Databases no longer named in O(grants) are not looked at.
    type: bool
    default: true
notes:
  - The role needs no C(USAGE) on schemas or C(CONNECT) on databases; pgaudit only checks its
    table and column privileges.
seealso:
  - module: pgtrail.audit.pgaudit_settings
"""

EXAMPLES = r"""
- name: Audit reads of payments and changes to the card number column
  become: true
  become_user: postgres
  pgtrail.audit.object_audit:
    role: audit_objects
    grants:
      - database: finance
        table: public.payments
        privileges: [SELECT]
      - database: finance
        table: public.cards
        privileges: [UPDATE]
        columns: [number]

- name: Point pgaudit at that role
  become: true
  become_user: postgres
  pgtrail.audit.pgaudit_settings:
    system:
      role: audit_objects
"""

RETURN = r"""
grants:
  description:
    - The role's privileges on tables of the databases in O(grants) after the run (in check mode,
      as they would be), in the shape of O(grants).
  returned: always
  type: list
  elements: dict
  sample:
    - {database: finance, table: public.payments, privileges: [SELECT]}
    - {database: finance, table: public.cards, privileges: [UPDATE], columns: [number]}
role_created:
  description: Whether the role was created (in check mode, would be).
  returned: always
  type: bool
  sample: false
executed_queries:
  description:
    - The statements run (in check mode, that would run); per-database ones end with a comment
      naming the database.
  returned: always
  type: list
  elements: str
  sample:
    - CREATE ROLE "audit_objects" NOLOGIN
    - GRANT SELECT ON TABLE "public"."payments" TO "audit_objects" -- database finance
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgtrail.audit.plugins.module_utils import object_audit


def main():
    module = AnsibleModule(argument_spec=object_audit.argument_spec(), supports_check_mode=True)
    module.exit_json(**object_audit.run(module))


if __name__ == "__main__":
    main()
