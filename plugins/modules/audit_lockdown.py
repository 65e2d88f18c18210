#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: audit_lockdown
short_description: Lock down a PostgreSQL audit trail so that only its triggers can write the log
version_added: 0.1.0
description:
  - Gives the audit schema of one database (made by M(pgtrail.audit.audit_trail)) and everything in
    it - the log and its partitions, the registry, the schema version, the chain head, their
    sequences and the trail's functions - to a C(NOLOGIN) owner, created when missing. The trail's
    C(SECURITY DEFINER) functions then run as that role rather than as a superuser. The DDL event
    triggers stay owned by a superuser, as PostgreSQL requires.
  - Revokes everything from C(PUBLIC) and from every other role on the schema, its tables,
    sequences and functions (column privileges too), then grants C(USAGE) on the schema to
    O(app_roles) and O(reader_roles), C(SELECT) on the log, its partitions and the chain's tables
    (C(chain_block), C(chain_head)) to O(reader_roles), and C(EXECUTE) on C(verify_chain()) (a
    chain upgraded from v1) to O(reader_roles), so that a reader's login runs
    M(pgtrail.audit.chain_verify) itself (it cannot seal, C(seal()) stays the owner's). Application
    roles get nothing on the tables -
    log rows arrive only through the trail's definer functions (the row, statement and
    C(TRUNCATE) triggers, the DDL event triggers and C(log_event()), whose C(EXECUTE) grant
    M(pgtrail.audit.audit_trail) owns through its own C(app_roles)).
  - C(PUBLIC) keeps C(EXECUTE) on the row trigger function C(log_row_change()), since PostgreSQL clones
    row triggers onto a new or attached partition as the table's owner, checking that role's
    C(EXECUTE). A trigger function runs only as a trigger, and logs under the name of the table it
    fires on unless the registry says that table is audited.
  - Sets the owner's default privileges in the schema so that partitions created later (as the
    owner, which M(pgtrail.audit.audit_trail) does once the trail is locked down) get the same
    C(SELECT) for the readers and nothing for anyone else.
  - On PostgreSQL 15 and later, reports and (with O(revoke_parameter_grants)) revokes C(SET) and
    C(ALTER SYSTEM) on C(pgaudit.*) parameters held by any role but the superusers, so that only
    superusers can switch pgaudit off for a session. These grants are cluster-wide.
  - Refuses, before any change, an owner that can log in or is a superuser, an application or
    reader role that is a superuser, a member of the owner or of C(pg_write_all_data), and roles
    that do not exist (in check mode, a missing role or a trail not built yet is a warning, since an
    earlier task of the same run may create it). Needs a superuser. Everything runs in one transaction; a re-run changes
    nothing.
attributes:
  diff_mode:
    description:
      Shows the owner, the grants on the schema, tables and functions, the default privileges and the
      pgaudit parameter grants before and after.
extends_documentation_fragment:
  - pgtrail.audit.connection
  - pgtrail.audit.trail
options:
  owner:
    description:
      - The role that owns the schema and everything in it. Created C(NOLOGIN) when missing; a role
        that can log in or is a superuser is refused.
    type: str
    default: audit_owner
  app_roles:
    description:
      - Application roles; they get C(USAGE) on the schema (to call C(log_event())) and nothing on its
        tables. A warning names those that may not call C(log_event()) (see M(pgtrail.audit.audit_trail)'s
        C(app_roles)).
    type: list
    elements: str
    default: []
  reader_roles:
    description:
      - Roles that may read and verify the log; they get C(USAGE) on the schema, C(SELECT) on the
        log, its partitions, C(chain_block) and C(chain_head), and C(EXECUTE) on C(verify_chain()).
    type: list
    elements: str
    default: []
  revoke_parameter_grants:
    description:
      - Revoke C(SET) and C(ALTER SYSTEM) on C(pgaudit.*) from every role that is not a superuser
        (PostgreSQL 15 and later). With C(false) they are only reported, with a warning.
    type: bool
    default: true
notes:
  - Superusers keep every right; like pgaudit, the lockdown does not protect against them (the hash
    chain, M(pgtrail.audit.chain_verify), detects what they change).
  - A role left out of O(app_roles) and O(reader_roles) loses its privileges on the schema, except
    C(USAGE) for a role that may call C(log_event()).
seealso:
  - module: pgtrail.audit.audit_trail
  - module: pgtrail.audit.chain_verify
  - module: pgtrail.audit.audit_info
"""

EXAMPLES = r"""
- name: The finance trail belongs to audit_owner; clerk writes through the triggers; auditor reads
  become: true
  become_user: postgres
  pgtrail.audit.audit_lockdown:
    database: finance
    app_roles: [clerk]
    reader_roles: [auditor]
  register: lockdown

- name: Show who holds what on the log
  ansible.builtin.debug:
    msg: "{{ lockdown.grants }}"
"""

RETURN = r"""
owner:
  description: The owner of the schema and its objects.
  returned: always
  type: str
  sample: audit_owner
owner_created:
  description: Whether the owner role was created (or, in check mode, would be).
  returned: always
  type: bool
  sample: false
grants:
  description:
    - The privileges on the schema's tables held by roles other than the owner, as they are in the
      catalog after the run (in check mode, as they are now). Column privileges carry C(columns).
  returned: always
  type: list
  elements: dict
  sample:
    - {table: audit.audit_log, role: auditor, privileges: [SELECT]}
function_grants:
  description: Who besides the owner may execute the schema's functions, after the run.
  returned: always
  type: list
  elements: dict
  sample:
    - function: audit.log_event(action text, resource text, success boolean, metadata jsonb, client_ip inet,
        user_agent text, actor_id text)
      role: clerk
      privileges: [EXECUTE]
    - {function: "audit.log_row_change()", role: PUBLIC, privileges: [EXECUTE]}
    - {function: "audit.verify_chain(expected_seq bigint, expected_hash text)", role: auditor, privileges: [EXECUTE]}
schema_grants:
  description: The privileges on the schema held by roles other than the owner, after the run.
  returned: always
  type: list
  elements: dict
  sample:
    - {role: auditor, privileges: [USAGE]}
    - {role: clerk, privileges: [USAGE]}
default_privileges:
  description: The owner's default privileges in the schema, after the run.
  returned: always
  type: list
  elements: dict
  sample:
    - {objects: TABLES, role: auditor, privileges: [SELECT]}
parameter_grants_revoked:
  description: The C(pgaudit.*) parameter grants revoked (or, in check mode, to be revoked).
  returned: always
  type: list
  elements: dict
  sample:
    - {parameter: pgaudit.log, role: app_user, privileges: [SET]}
parameter_grants:
  description: The C(pgaudit.*) parameter grants held by roles other than superusers after the run.
  returned: always
  type: list
  elements: dict
  sample: []
log_writers:
  description:
    - The roles other than superusers and the owner that may still C(INSERT), C(UPDATE), C(DELETE)
      or C(TRUNCATE) the log after the run, however they hold it (a member of C(pg_write_all_data),
      say); a warning names them. Normally empty.
  returned: always
  type: list
  elements: dict
  sample: []
executed_queries:
  description:
    - The statements run (in check mode, that would run), in order, in one transaction - the owner's
      role, the ownership, then the grants and revokes.
  returned: always
  type: list
  elements: str
  sample:
    - CREATE ROLE "audit_owner" NOLOGIN
    - ALTER SCHEMA "audit" OWNER TO "audit_owner"
    - ALTER TABLE "audit"."audit_log" OWNER TO "audit_owner"
    - GRANT SELECT ON TABLE "audit"."audit_log" TO "auditor"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgtrail.audit.plugins.module_utils import postgres
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail import lockdown, options


def main():
    module = AnsibleModule(argument_spec=options.argument_spec(**options.LOCKDOWN), supports_check_mode=True)
    # One transaction: every change of the run, or none.
    postgres.converge_in_one_transaction(module, module.params["database"], lockdown.converge, lockdown.LockdownError)


if __name__ == "__main__":
    main()
