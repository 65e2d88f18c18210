#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: audit_trail
short_description: Keep a trigger-based audit trail in one PostgreSQL database
version_added: 0.1.0
description:
  - Creates and keeps up to date, in one database, an audit schema (O(schema)) with the log table
    C(audit_log), the registry C(audited_tables), the C(schema_version) record, the trail's
    functions, triggers on the audited tables and two DDL event triggers. Works without pgaudit.
  - C(audit_log) has the seed document's columns first (C(id), C(table_name), C(action), C(old_data),
    C(new_data), C(actor_id), C(changed_at)), so queries written for the seed keep working, then
    C(kind) (C(row), C(truncate), C(event) or C(ddl)), C(schema_name), C(txid), C(statement_at),
    C(wall_at) (clock time), C(login_role) (C(session_user)),
    C(effective_role) (the role set with C(SET ROLE), else the login), C(application_name),
    C(client_addr), C(client_port), and for application events C(resource), C(success), C(client_ip),
    C(user_agent) and C(metadata). C(actor_id) is C(text), so it holds any application id (a uuid
    too). C(changed_at) is the transaction's start time, as in the seed. The function
    C(<schema>.changed_fields(old_data, new_data)) names the columns an C(UPDATE) changed (computed
    on read, so the write path stays short).
  - Row changes are logged by C(AFTER) triggers, C(FOR EACH ROW) (mode C(row) in O(tables)) or per
    statement with transition tables (mode C(statement), for bulk-heavy tables), plus a
    C(TRUNCATE) trigger. All are C(ENABLE ALWAYS), so C(session_replication_role = replica) does not
    skip them. A partitioned table is audited at the parent and logs under the parent's name.
  - On a logical replication subscriber, the changes its apply worker applies are logged with
    C(metadata) naming the subscription. The trail's own tables carry C(pgtrail_skip_applied)
    (C(ENABLE REPLICA)), which skips the rows a subscription applies to them, so a node keeps its
    own log when a C(FOR ALL TABLES) publication carries another node's.
  - Excluded columns never reach the log; an C(UPDATE) that changes only excluded columns (or
    nothing) writes no row.
  - The trigger functions are C(SECURITY DEFINER) with C(search_path = pg_catalog, pg_temp) and name
    every object with its schema.
  - Application events go through the function C(<schema>.log_event(action, resource, success,
    metadata, client_ip, user_agent, actor_id)), which returns the new row's id; only the roles in
    O(app_roles) may call it. Events are stored in the same table with C(kind = 'event') and
    C(table_name = resource).
  - DDL on audited tables (C(ALTER TABLE), C(DISABLE TRIGGER), C(DROP TRIGGER), C(DROP TABLE),
    on the table, its partitions, indexes or triggers) and on the trail's own tables and functions is
    logged by the event triggers C(pgtrail_audit_ddl) and C(pgtrail_audit_drop), with
    C(kind = 'ddl'), the command tag as C(action), and the object and statement in C(metadata).
    Creating them needs a superuser. One trail per database.
  - The same event triggers refuse DDL that would weaken the trail unless a superuser (or a member
    of the trail's owner) runs it, so a table's owner cannot silence its audit triggers - C(ALTER
    TABLE ... DISABLE TRIGGER), C(ENABLE [REPLICA] TRIGGER), C(CREATE OR REPLACE TRIGGER) or
    C(ALTER TRIGGER ... RENAME) on a C(pgtrail_audit_*) trigger, and C(DROP TRIGGER) of one whose
    table stays. Dropping the table itself is allowed and recorded. A superuser's DDL is recorded.
  - With O(hash_chain), committed log rows are sealed into hash-chained blocks by
    C(<schema>.seal()), outside the writers' path; the M(pgtrail.audit.chain_verify) module checks
    the chain.
  - Reads and checks everything first; any unknown table, schema, column or role, or a name
    PostgreSQL could not keep, fails the task naming it, before any change. All changes run in one
    transaction. Definitions are compared with the catalog, so a re-run changes nothing and a
    changed option replaces only the function or trigger it affects.
  - The log's layout has a version, recorded in C(<schema>.schema_version); a later release upgrades
    an existing log in place, keeping its rows.
attributes:
  diff_mode:
    description:
      Shows the audited tables, trigger and function definitions, event triggers, grants and log
      partitions before and after.
extends_documentation_fragment:
  - pgtrail.audit.connection
  - pgtrail.audit.trail
options:
  tables:
    description:
      - The tables to audit, each a string C(schema.table) (C(public) when no schema is given)
        or a dictionary with the keys C(name) (that string), C(mode) (C(row), the default, or
        C(statement)) and C(exclude_columns) (a list of column names).
      - Names of tables, schemas and columns are read as in SQL. Unquoted names fold ASCII letters
        only (C(Orders) is C(orders), C(Äpfel) stays C(Äpfel)); double-quote a name that keeps its
        case or holds a dot, a space or a quote (C('"We.ird"."ta ble"'), C('"a""b"') for C(a"b)).
        A name longer than 63 bytes, which PostgreSQL would cut, is refused; the error shows the
        name PostgreSQL would store.
      - Statement mode writes the log rows of one statement set-based from transition tables and
        needs a primary key, by which it pairs old and new rows of an C(UPDATE).
      - Tables audited before and no longer selected by O(tables) or O(schemas) lose their triggers;
        their log rows stay.
    type: list
    elements: raw
    default: []
  schemas:
    description:
      - Audit every table of these schemas (row mode), except those matching an C(exclude) pattern.
        Partitions are covered by their partitioned table. An entry of O(tables) for the same table
        takes precedence.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The schema, read as in SQL like the names in O(tables).
        type: str
        required: true
      exclude:
        description: Shell-style patterns (C(*), C(?), C([...])) matched against table names, case-sensitively.
        type: list
        elements: str
        default: []
  exclude_columns:
    description:
      - Columns kept out of the log, per table, as a dictionary from C(schema.table) to a list of
        column names; added to the entry's own C(exclude_columns). The table must be selected.
    type: dict
    default: {}
  actor_setting:
    description:
      - The setting the application puts its actor id in, for the transaction only, with
        C(SELECT set_config('pgtrail.actor_id', '42', true)) (or C(SET LOCAL)). A session-level
        C(SET) outlives the transaction, and a pooled connection hands it to the next user.
    type: str
    default: pgtrail.actor_id
  actor_expression:
    description:
      - A SQL expression whose value is the actor, tried before O(actor_setting), such as
        C(auth.uid()) on Supabase. It is trusted SQL from the inventory, like a column default, and
        runs as the trail's owner with C(search_path = pg_catalog, pg_temp), so qualify every name.
      - The module runs it once before any change and fails when it does not run.
    type: str
  require_actor:
    description:
      - Refuse a write to an audited table when no actor is set (the error names the setting).
        Application events and DDL are logged without one.
    type: bool
    default: false
  app_roles:
    description:
      - The roles that may call C(<schema>.log_event); they are granted C(USAGE) on the schema and
        C(EXECUTE) on the function, and C(EXECUTE) is revoked from every other role.
      - Each must exist; in check mode a missing one is a warning and is left out of the plan (an
        earlier task of the same run may create it).
    type: list
    elements: str
    default: []
  state:
    description:
      - C(absent) removes the triggers, event triggers and functions of the trail, and keeps the
        schema, the log and its rows. O(tables) and O(schemas) are not used then.
    type: str
    choices: [present, absent]
    default: present
  partition:
    description:
      - C(monthly) creates the log partitioned by month of C(changed_at) (UTC), with partitions made
        three months ahead at each run and a default partition for rows of other months, which a
        later run moves into their month. Chosen when the log is created; it cannot be changed
        afterwards.
    type: str
    choices: [none, monthly]
    default: none
  retention_months:
    description:
      - With O(partition=monthly), keep this many months before the current one and detach and
        drop older partitions (rows of older months found in the default partition are deleted).
        Null keeps everything. Only the owner running this module can do it.
    type: int
  hash_chain:
    description:
      - Chain the log (chain v2, schema version 3, applied in place to an existing log; see
        C(docs/chain-v2.md)). The log stays insert-only and each row is written once - no trigger,
        lock or second write on the writers' path. C(<schema>.seal()) (a security definer function;
        EXECUTE revoked from PUBLIC; the systemd timer the C(audit_triggers) role installs calls it
        every second as C(postgres)) seals the rows of the transactions that ended since the last
        block into one row of C(<schema>.chain_block) - which rows, by the sealer's snapshot, so
        C(REPEATABLE READ) and C(SERIALIZABLE) writers are sealed after their C(COMMIT) and no
        other session's transaction holds sealing back. A block holds the rows' leaves
        (SHA-256 of each row's binary record), their root, the sealer's snapshot and the previous
        block's hash; block 0 holds the chain id (C(pgtrail.audit/chain/<uuid>), the origin of
        signed checkpoints).
      - C(UPDATE), C(DELETE) and C(TRUNCATE) of the log, its partitions and C(chain_block) are
        refused for every role, the owner included (statement triggers C(pgtrail_insert_only),
        C(ENABLE ALWAYS)); retention drops whole partitions.
      - A log chained by an earlier release (chain v1, schema version 2) is upgraded in place by the
        next run - v1 seals one last time, its head becomes block 0, its rows keep C(chain_seq),
        C(prev_hash) and C(row_hash) and C(<schema>.verify_chain()) stays to check them; v1's
        sealing trigger and C(seal_chain()) go. The run waits for the log in short tries (writers
        are never queued behind it for longer than one) and fails, changing nothing, if a long
        transaction holds the log throughout.
      - Once on, it cannot be switched off (the task fails when it is false for a chained log).
    type: bool
    default: false
notes:
  - Triggers of tables no longer audited are dropped; log rows are never deleted except by
    O(retention_months).
  - A C(TRUNCATE) of a partitioned table writes one row for the table and one per partition, each
    with the partition in C(metadata.relation). An C(UPDATE) that moves a row to another partition
    is logged as a C(DELETE) and an C(INSERT).
  - Row triggers cover partitions created later at once (PostgreSQL clones them). Their C(TRUNCATE)
    trigger, and in statement mode their statement triggers (for statements naming the partition
    itself), are added by the next run, which reports the table as updated.
  - After C(ALTER TABLE ... RENAME), C(SET SCHEMA) or C(ALTER SCHEMA ... RENAME), the event trigger
    updates the registry, and the DDL and every later write are logged under the table's current
    name. List the table under its new name; the next run gives its triggers that name (until
    then, each audited row of the renamed table costs one lookup in the registry).
  - The owner of an audited table may run its own DDL on it in any schema, one the trail's owner
    cannot use included - partitions, renames, columns, indexes (C(CONCURRENTLY) too), C(DROP TABLE),
    C(DROP SCHEMA ... CASCADE), C(DROP OWNED) - and it is recorded. C(PUBLIC) keeps C(EXECUTE) on
    C(log_row_change()), which PostgreSQL checks when it clones the row trigger onto a new partition.
  - One trail per database. To move it to another O(schema), run O(state=absent) with the old one
    first.
  - The log is owned by the role running the module and no other role has privileges on it, until
    M(pgtrail.audit.audit_lockdown) gives it to a C(NOLOGIN) owner; then what a later run adds
    (functions, the chain head, partitions) is given to that owner too, partitions being created as
    that owner so that its default privileges apply.
  - This module owns C(EXECUTE) on C(log_event) (O(app_roles)); M(pgtrail.audit.audit_lockdown)
    leaves that grant to it.
  - Superusers can disable event triggers; like pgaudit, the trail does not protect against them.
seealso:
  - module: pgtrail.audit.audit_info
  - module: pgtrail.audit.audit_lockdown
  - module: pgtrail.audit.chain_verify
"""

EXAMPLES = r"""
- name: Audit payments and accounts, keeping password hashes out of the log
  become: true
  become_user: postgres
  pgtrail.audit.audit_trail:
    database: finance
    tables:
      - public.payments
      - name: public.accounts
        exclude_columns: [password_hash]
      - name: public.ledger_lines
        mode: statement
    app_roles: [app_user]

- name: Audit every table of a schema except the scratch ones, on Supabase
  become: true
  become_user: postgres
  pgtrail.audit.audit_trail:
    database: postgres
    schemas:
      - name: public
        exclude: ["tmp_*", "*_cache"]
    exclude_columns:
      public.users: [password_hash]
    actor_expression: auth.uid()
    require_actor: true

- name: A monthly-partitioned log keeping 13 months
  become: true
  become_user: postgres
  pgtrail.audit.audit_trail:
    database: finance
    tables: [public.payments]
    partition: monthly
    retention_months: 13

- name: A hash-chained log (verify it with pgtrail.audit.chain_verify)
  become: true
  become_user: postgres
  pgtrail.audit.audit_trail:
    database: finance
    tables: [public.payments]
    hash_chain: true

- name: Stop auditing (the log and its rows stay)
  become: true
  become_user: postgres
  pgtrail.audit.audit_trail:
    database: finance
    state: absent

# In the application, per transaction:
#   BEGIN;
#   SELECT set_config('pgtrail.actor_id', '42', true);
#   UPDATE accounts SET email = 'a@example.org' WHERE id = 7;
#   SELECT audit.log_event('EXPORT', 'reports', true, '{"rows": 120}', '203.0.113.9', 'curl/8');
#   COMMIT;
"""

RETURN = r"""
tables:
  description: The audited tables after the run (in check mode, as they would be).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description:
        - The table as C(schema.table), double-quoting a part that would not read back as itself
          (C(public."Äpfel")), so it can be given back to O(tables).
      type: str
    mode:
      description: C(row) or C(statement).
      type: str
    exclude_columns:
      description: The excluded columns, sorted, double-quoted like RV(tables[].name).
      type: list
      elements: str
  sample:
    - {name: public.accounts, mode: row, exclude_columns: [password_hash]}
    - {name: public.payments, mode: row, exclude_columns: []}
added:
  description: Tables that became audited.
  returned: always
  type: list
  elements: str
  sample: [public.payments]
removed:
  description: Tables that lost their audit triggers (their log rows stay).
  returned: always
  type: list
  elements: str
  sample: [public.notes]
updated:
  description: Tables whose triggers or settings (mode, excluded columns) were changed in place.
  returned: always
  type: list
  elements: str
  sample: [public.accounts]
schema_version:
  description: The trail's schema version after the run (2 with O(hash_chain), else 1).
  returned: always
  type: int
  sample: 1
hash_chain:
  description: Whether the log is hash-chained after the run.
  returned: always
  type: bool
  sample: true
executed_queries:
  description: The statements run (in check mode, that would run), in order, in one transaction.
  returned: always
  type: list
  elements: str
  sample:
    - CREATE SCHEMA "audit"
    - CREATE TRIGGER "pgtrail_audit_row" AFTER INSERT OR UPDATE OR DELETE ON "public"."payments" FOR EACH ROW
      EXECUTE FUNCTION "audit"."log_row_change"('public', 'payments')
    - ALTER TABLE "public"."payments" ENABLE ALWAYS TRIGGER "pgtrail_audit_row"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgtrail.audit.plugins.module_utils import postgres
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail import options
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.converge import converge
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.names import TrailError


def main():
    module = AnsibleModule(argument_spec=options.argument_spec(**options.TRAIL), supports_check_mode=True)
    # One transaction: every change of the run, or none.
    postgres.converge_in_one_transaction(module, module.params["database"], converge, TrailError)


if __name__ == "__main__":
    main()
