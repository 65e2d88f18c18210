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
author:
  - pgtrail.audit maintainers (@pgtrail)
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

import contextlib

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgtrail.audit.plugins.module_utils import identifiers, object_grants, postgres

ROLE = "SELECT rolcanlogin, rolsuper FROM pg_catalog.pg_roles WHERE rolname = %s"

DATABASES = "SELECT datname FROM pg_catalog.pg_database WHERE datallowconn AND datname = ANY(%s)"

RELATION = """
SELECT c.oid, c.relkind FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = %s AND c.relname = %s
"""

COLUMNS = "SELECT attname FROM pg_catalog.pg_attribute WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped"

# Tables, partitioned tables, views, materialized views and foreign tables.
RELKINDS = ("r", "p", "v", "m", "f")

TABLE_PRIVILEGES = """
SELECT n.nspname, c.relname, a.privilege_type
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 CROSS JOIN LATERAL aclexplode(c.relacl) a
 WHERE a.grantee = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = %(role)s)
   AND c.relkind = ANY(%(relkinds)s)
"""

COLUMN_PRIVILEGES = """
SELECT n.nspname, c.relname, att.attname, a.privilege_type
  FROM pg_catalog.pg_attribute att
  JOIN pg_catalog.pg_class c ON c.oid = att.attrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 CROSS JOIN LATERAL aclexplode(att.attacl) a
 WHERE a.grantee = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = %(role)s)
   AND c.relkind = ANY(%(relkinds)s) AND att.attnum > 0 AND NOT att.attisdropped
"""


def declared(module):
    """{database: state} of the declared grants, or fail naming every bad entry."""
    errors = []
    wanted = {}
    for index, grant in enumerate(module.params["grants"]):
        where = "grants[%d] (%s %s)" % (index, grant["database"], grant["table"])
        try:
            schema, table = identifiers.parse_qualified(grant["table"])
            columns = [identifiers.parse_single(column, "column") for column in grant["columns"] or []]
            privileges = object_grants.check_privileges(grant["privileges"], columns)
        except ValueError as exc:
            errors.append("%s: %s" % (where, exc))
            continue
        state = wanted.setdefault(grant["database"], {})
        object_grants.add(state, schema, table, privileges, columns)
    return wanted, errors


def read_database(session, role, state, errors, database):
    """Check the declared tables and columns of one database; returns the role's current state there."""
    for schema, table in sorted(state):
        rows = session.query(RELATION, [schema, table])
        name = identifiers.render(schema, table)
        if not rows:
            errors.append("table %s does not exist in database %s" % (name, database))
            continue
        if rows[0]["relkind"] not in RELKINDS:
            errors.append("%s in database %s is not a table or view" % (name, database))
            continue
        existing = {r["attname"] for r in session.query(COLUMNS, [rows[0]["oid"]])}
        for column in sorted(state[(schema, table)]["columns"]):
            if column not in existing:
                errors.append(
                    "column %s does not exist in table %s of database %s" % (identifiers.render(column), name, database)
                )
    current = {}
    params = dict(role=role, relkinds=list(RELKINDS))
    for row in session.query(TABLE_PRIVILEGES, params):
        current.setdefault((row["nspname"], row["relname"]), object_grants.empty_table())["table"].add(
            row["privilege_type"]
        )
    for row in session.query(COLUMN_PRIVILEGES, params):
        entry = current.setdefault((row["nspname"], row["relname"]), object_grants.empty_table())
        entry["columns"].setdefault(row["attname"], set()).add(row["privilege_type"])
    return current


def statement(role, schema, table, verb, privileges, columns):
    sql = postgres.sql
    for privilege in privileges:
        if privilege not in object_grants.ALL_PRIVILEGES:
            raise ValueError("unexpected privilege %r" % privilege)
    words = sql.SQL(", ").join(sql.SQL(p) for p in privileges)
    if columns:
        words = sql.SQL("{} ({})").format(words, sql.SQL(", ").join(sql.Identifier(c) for c in columns))
    template = "GRANT {} ON TABLE {} TO {}" if verb == "grant" else "REVOKE {} ON TABLE {} FROM {}"
    return sql.SQL(template).format(words, postgres.qualified(schema, table), sql.Identifier(role))


def check_role(module, session):
    """Returns whether the role must be created; fails when it can log in or is a superuser."""
    role = module.params["role"]
    rows = session.query(ROLE, [role])
    if not rows:
        return True
    if rows[0]["rolcanlogin"]:
        module.fail_json(
            msg="role %r can log in; an object-audit role must be NOLOGIN (whoever logs in as it holds exactly the "
            "audited privileges). Use another role name, or ALTER ROLE %s NOLOGIN; nothing was changed" % (role, role),
            changed=False,
            executed_queries=[],
        )
    if rows[0]["rolsuper"]:
        module.fail_json(
            msg="role %r is a superuser, so pgaudit would log every statement on every table; nothing was changed"
            % role,
            changed=False,
            executed_queries=[],
        )
    return False


def main():
    argument_spec = postgres.connection_argument_spec()
    argument_spec.update(
        role=dict(type="str", default="audit_objects"),
        grants=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                database=dict(type="str", required=True),
                table=dict(type="str", required=True),
                privileges=dict(type="list", elements="str", required=True),
                columns=dict(type="list", elements="str"),
            ),
        ),
        exclusive=dict(type="bool", default=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    role = module.params["role"]
    problem = identifiers.name_problem(role)
    if problem:
        module.fail_json(msg="role: %s; nothing was changed" % problem, changed=False, executed_queries=[])
    main_session = postgres.open_session(module, autocommit=True)
    sessions = {}
    executed = []
    try:
        create_role = check_role(module, main_session)
        wanted, errors = declared(module)
        databases = sorted(wanted)
        named = sorted({grant["database"] for grant in module.params["grants"]})
        found = {r["datname"] for r in main_session.query(DATABASES, [named])} if named else set()
        for database in named:
            if database not in found:
                errors.append("database %r does not exist or does not accept connections" % database)
        current = {}
        for database in databases:
            if database not in found:
                continue
            if database == module.params["login_db"]:
                sessions[database] = main_session
            else:
                sessions[database] = postgres.open_session(module, dbname=database, autocommit=True)
            current[database] = read_database(sessions[database], role, wanted[database], errors, database)
        if errors:
            module.fail_json(
                msg="Nothing was changed: %d problem(s): %s" % (len(errors), "; ".join(errors)),
                changed=False,
                executed_queries=[],
            )

        plans, before, after = {}, [], []
        for database in databases:
            plans[database], state = object_grants.plan_database(
                current[database], wanted[database], module.params["exclusive"]
            )
            before.extend(object_grants.describe(database, current[database]))
            after.extend(object_grants.describe(database, state))

        sql = postgres.sql
        if create_role:
            main_session.change(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
            executed.append(main_session.executed_queries.pop())
        # One transaction per database, all committed only after every statement succeeded.
        failed_in = None
        try:
            with contextlib.ExitStack() as stack:
                for database in databases:
                    if not plans[database]:
                        continue
                    failed_in = database
                    session = sessions[database]
                    stack.enter_context(session.conn.transaction())
                    for schema, table, steps in plans[database]:
                        for verb, privileges, columns in steps:
                            session.change(statement(role, schema, table, verb, privileges, columns))
                            executed.append(session.executed_queries.pop() + " -- database %s" % database)
                failed_in = None
        except postgres.psycopg.Error as exc:
            if failed_in is not None:
                executed.extend(q + " -- database %s" % failed_in for q in sessions[failed_in].executed_queries)
            module.fail_json(
                msg="PostgreSQL refused %s: %s; the grants of every database were rolled back%s"
                % (executed[-1], str(exc).strip(), " (the role was created)" if create_role else ""),
                executed_queries=executed,
                database=failed_in,
            )
    finally:
        for session in sessions.values():
            if session is not main_session:
                session.close()
        main_session.close()

    result = dict(
        changed=bool(create_role or any(plans.values())),
        grants=after,
        role_created=create_role,
        executed_queries=executed,
    )
    if module._diff:
        result["diff"] = dict(
            before=dict(role_exists=not create_role, grants=before), after=dict(role_exists=True, grants=after)
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
