# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The object_audit module's run: the pgaudit object-audit role and its privileges, as declared.

Checks the role, every declared table and column first (every problem named, nothing changed),
reads what the role holds, plans with ``object_grants`` (pure, unit-tested) and applies the
grants of every database in one transaction each, committed together. :func:`run` is the
module's one call.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib

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


def declared(grants):
    """({database: state} of the declared grants, the problems of every bad entry) (pure)."""
    errors = []
    wanted = {}
    for index, grant in enumerate(grants):
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
    return sql.SQL(template).format(words, sql.Identifier(schema, table), sql.Identifier(role))


def argument_spec():
    """The object_audit module's options (audit_plan plans object auditing with them too)."""
    grant = dict(
        database=dict(type="str", required=True),
        table=dict(type="str", required=True),
        privileges=dict(type="list", elements="str", required=True),
        columns=dict(type="list", elements="str"),
    )
    return postgres.connection_argument_spec(
        role=dict(type="str", default="audit_objects"),
        grants=dict(type="list", elements="dict", default=[], options=grant),
        exclusive=dict(type="bool", default=True),
    )


def check_role(module, session):
    """Returns whether the role must be created; fails when it can log in or is a superuser."""
    role = module.params["role"]
    rows = session.query(ROLE, [role])
    if not rows:
        return True
    if rows[0]["rolcanlogin"]:
        module.fail_json(
            msg="role %r can log in; an object-audit role must be NOLOGIN (whoever logs in as it holds exactly the "
            "audited privileges). Use another role name, or ALTER ROLE %s NOLOGIN; nothing was changed"
            % (role, identifiers.render(role)),
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


def refuse(module, errors):
    module.fail_json(
        msg="Nothing was changed: %d problem(s): %s" % (len(errors), "; ".join(errors)),
        changed=False,
        executed_queries=[],
    )


def read(module, main_session, sessions):
    """(wanted, current): the declared and held privileges of every database named, each
    checked on its own connection (opened into ``sessions``); fails naming every problem."""
    role = module.params["role"]
    wanted, errors = declared(module.params["grants"])
    named = sorted({grant["database"] for grant in module.params["grants"]})
    found = {r["datname"] for r in main_session.query(DATABASES, [named])} if named else set()
    errors.extend("database %r does not exist or does not accept connections" % db for db in named if db not in found)
    current = {}
    for database in sorted(wanted):
        if database not in found:
            continue
        if database == module.params["login_db"]:
            sessions[database] = main_session
        else:
            sessions[database] = postgres.open_session(module, dbname=database, autocommit=True)
        current[database] = read_database(sessions[database], role, wanted[database], errors, database)
    if errors:
        refuse(module, errors)
    return wanted, current


def plan(wanted, current, exclusive):
    """({database: [(schema, table, steps)]}, grants before, grants after) (pure)."""
    plans, before, after = {}, [], []
    for database in sorted(wanted):
        plans[database], state = object_grants.plan_database(current[database], wanted[database], exclusive)
        before.extend(object_grants.describe(database, current[database]))
        after.extend(object_grants.describe(database, state))
    return plans, before, after


def apply(module, main_session, sessions, plans, create_role):
    """Create the role, then the grants of every database, all committed only after every
    statement succeeded; returns the statements, each naming its database."""
    role = module.params["role"]
    sql = postgres.sql
    executed = []
    if create_role:
        main_session.change(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
        executed.append(main_session.executed_queries.pop())
    failed_in = None
    try:
        with contextlib.ExitStack() as stack:
            for database in sorted(plans):
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
    return executed


def run(module):
    """The object_audit module: returns its result, or fails naming every problem."""
    problem = identifiers.name_problem(module.params["role"])
    if problem:
        module.fail_json(msg="role: %s; nothing was changed" % problem, changed=False, executed_queries=[])
    main_session = postgres.open_session(module, autocommit=True)
    sessions = {}
    try:
        create_role = check_role(module, main_session)
        wanted, current = read(module, main_session, sessions)
        plans, before, after = plan(wanted, current, module.params["exclusive"])
        executed = apply(module, main_session, sessions, plans, create_role)
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
    return result
