# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The modules of the server log's shipping to the vault (module_utils/vault_logs.py ships):
vault_log_source makes the source's two reading functions, vault_logs the vault's tables and
runs one shipping."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgtrail.audit.plugins.module_utils import postgres, vault_logs
from ansible_collections.pgtrail.audit.plugins.module_utils.postgres import psycopg, sql

# vault_store's guard of the vault's tables (refuses UPDATE, DELETE, TRUNCATE but to the owner).
GUARD = "vault_guard"
LOG_SETTINGS = """
SELECT pg_catalog.current_setting('log_destination') AS destination,
       pg_catalog.current_setting('logging_collector') AS collector
"""
TABLES = """
SELECT c.relname, pg_catalog.pg_get_userbyid(c.relowner) AS owner,
       EXISTS (SELECT FROM pg_catalog.pg_trigger AS t
                WHERE t.tgrelid = c.oid AND t.tgname = %s AND t.tgenabled = 'A') AS guarded
  FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
 WHERE n.nspname = %s AND c.relkind = 'r' AND c.relname = ANY(%s)
"""


def source_argument_spec():
    """vault_log_source's options: the connection's and its own."""
    spec = postgres.connection_argument_spec()
    spec.update(
        databases=dict(type="list", elements="str", required=True),
        user=dict(type="str", default="pgtrail_vault"),
    )
    return spec


def store_argument_spec():
    """vault_logs' options: the connection's and its own."""
    spec = postgres.connection_argument_spec()
    spec.update(
        database=dict(type="str", required=True),
        schema=dict(type="str", default="audit"),
        owner=dict(type="str", default="vault_owner"),
        reader_roles=dict(type="list", elements="str", default=[]),
        subscription=dict(type="str", default="pgtrail_vault"),
        ship=dict(type="bool", default=False),
    )
    return spec


def jsonlog_problems(destination, collector):
    """Why the server writes no jsonlog the vault can read (pure): [] when it does."""
    problems = []
    if "jsonlog" not in [d.strip().lower() for d in destination.split(",")]:
        problems.append("log_destination is %r, without jsonlog" % destination)
    if collector != "on":
        problems.append("logging_collector is %s (jsonlog needs it on; a restart)" % collector)
    return problems


def function_steps(current, wanted, user):
    """The steps ('create' | 'revoke <role>' | 'grant') that leave one source function as wanted
    (pure): ``current`` its FUNCTION_STATE row or None, ``wanted`` its body."""
    if current is None:
        return ["create", "revoke PUBLIC", "grant"]
    steps = []
    if current["body"] != wanted or not current["definer"]:
        steps.append("create")
    steps.extend("revoke %s" % role for role in current["executors"] if role != user)
    if user not in current["executors"]:
        steps.append("grant")
    return steps


def _source_database(session, user, role_exists):
    """The schema of the reading functions (USAGE for the vault's login only), and the functions."""
    schema = vault_logs.SOURCE_SCHEMA
    if not session.scalar("SELECT count(*) FROM pg_catalog.pg_namespace WHERE nspname = %s", [schema]):
        session.change(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        session.change(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), sql.Identifier(user)))
    elif not role_exists or not session.scalar("SELECT has_schema_privilege(%s, %s, 'USAGE')", [user, schema]):
        session.change(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), sql.Identifier(user)))
    wanted = vault_logs.function_sql(schema)
    rows = dict((r["name"], r) for r in session.query(vault_logs.FUNCTION_STATE, [schema, sorted(wanted)]))
    for name, (create, body) in sorted(wanted.items()):
        signature = "(text, bigint, bigint)" if name == vault_logs.READ_FUNCTION else "()"
        function = sql.SQL("{}.{}" + signature).format(sql.Identifier(schema), sql.Identifier(name))
        for step in function_steps(rows.get(name), body, user):
            if step == "create":
                session.change(create)
            elif step == "grant":
                session.change(sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(function, sql.Identifier(user)))
            else:
                role = step.split(" ", 1)[1]
                grantee = sql.SQL("PUBLIC") if role == "PUBLIC" else sql.Identifier(role)
                session.change(sql.SQL("REVOKE ALL ON FUNCTION {} FROM {}").format(function, grantee))


def run_source(module):
    """The vault_log_source module's one call."""
    postgres.require_psycopg(module)
    params = module.params
    queries, databases = [], {}
    for database in params["databases"]:
        session = postgres.open_session(module, dbname=database, autocommit=True)
        try:
            role_exists = bool(session.query("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = %s", [params["user"]]))
            if not role_exists and not module.check_mode:
                module.fail_json(msg="role %s does not exist (the vault_source module makes it)" % params["user"])
            with session.conn.transaction():
                _source_database(session, params["user"], role_exists)
            settings = session.query(LOG_SETTINGS)[0]
        except psycopg.Error as exc:
            module.fail_json(
                msg="PostgreSQL refused a statement in database %s: %s" % (database, str(exc).strip()),
                executed_queries=queries + session.executed_queries,
            )
        finally:
            session.close()
        databases[database] = dict(changed=bool(session.executed_queries))
        queries.extend("%s -- database %s" % (q, database) for q in session.executed_queries)
    problems = jsonlog_problems(settings["destination"], settings["collector"]) if params["databases"] else []
    for problem in problems:
        module.warn("the vault cannot read this server's log yet: %s" % problem)
    return dict(
        changed=bool(queries),
        databases=databases,
        jsonlog=not problems,
        problems=problems,
        executed_queries=queries,
    )


def _ensure_tables(session, schema, owner, readers):
    n = vault_logs.names(schema)
    wanted = [vault_logs.LINES, vault_logs.FILES, vault_logs.GAPS]
    tables = dict((r["relname"], r) for r in session.query(TABLES, [GUARD, schema, wanted]))
    guard = session.scalar(
        "SELECT count(*) FROM pg_catalog.pg_proc AS p JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace"
        " WHERE n.nspname = %s AND p.proname = %s",
        [schema, GUARD],
    )
    if not guard and not session.module.check_mode:
        raise LookupError("the vault database has no %s.%s(): the vault_store module makes it first" % (schema, GUARD))
    if vault_logs.LINES not in tables:
        for statement in vault_logs.TABLES_SQL[:2]:
            session.change(sql.SQL(statement).format(**n))
    for table, statement in ((vault_logs.FILES, vault_logs.TABLES_SQL[2]), (vault_logs.GAPS, vault_logs.TABLES_SQL[3])):
        if table not in tables:
            session.change(sql.SQL(statement).format(**n))
    for table in wanted:
        t = sql.Identifier(schema, table)
        row = tables.get(table)
        if row is None or row["owner"] != owner:
            session.change(sql.SQL("ALTER TABLE {} OWNER TO {}").format(t, sql.Identifier(owner)))
        if row is None or not row["guarded"]:
            session.change(
                sql.SQL(
                    "CREATE TRIGGER {} BEFORE UPDATE OR DELETE OR TRUNCATE ON {}"
                    " FOR EACH STATEMENT EXECUTE FUNCTION {}.{}({})"
                ).format(sql.Identifier(GUARD), t, n["schema"], sql.Identifier(GUARD), sql.Literal(owner))
            )
            session.change(sql.SQL("ALTER TABLE {} ENABLE ALWAYS TRIGGER {}").format(t, sql.Identifier(GUARD)))
        for reader in readers:
            if row is None or not session.scalar(
                "SELECT has_table_privilege(%s, %s, 'SELECT')", [reader, t.as_string(session.conn)]
            ):
                session.change(sql.SQL("GRANT SELECT ON TABLE {} TO {}").format(t, sql.Identifier(reader)))
    return not tables


def run_store(module):
    """The vault_logs module's one call: the tables, then (ship) one shipping, then the gaps."""
    postgres.require_psycopg(module)
    params = module.params
    main = postgres.open_session(module, autocommit=True)
    try:
        exists = main.scalar("SELECT count(*) FROM pg_catalog.pg_database WHERE datname = %s", [params["database"]])
    finally:
        main.close()
    if not exists:
        if not module.check_mode:
            module.fail_json(msg="vault database %s does not exist (vault_store makes it)" % params["database"])
        # A check run before the vault database is made: the tables come with it.
        return dict(
            changed=True,
            database=params["database"],
            shipped=dict(lines=0, audit_lines=0, files=0, gaps=[], busy=False),
            gaps=[],
            ok=True,
            reason="the vault database is not made yet",
            executed_queries=["-- in database %s: the server log's tables" % params["database"]],
        )
    session = postgres.open_session(module, dbname=params["database"], autocommit=True)
    shipped = dict(lines=0, audit_lines=0, files=0, gaps=[], busy=False)
    try:
        with session.conn.transaction():
            new = _ensure_tables(session, params["schema"], params["owner"], params["reader_roles"])
        if params["ship"] and not module.check_mode:
            shipped = vault_logs.ship(session.conn, params["schema"], params["subscription"])
        gaps = [] if new and module.check_mode else vault_logs.recorded_gaps(session.conn, params["schema"])
    except LookupError as exc:
        module.fail_json(msg="In vault database %s: %s" % (params["database"], exc), changed=False)
    except psycopg.Error as exc:
        module.fail_json(
            msg="In vault database %s: %s" % (params["database"], str(exc).strip()),
            executed_queries=session.executed_queries,
        )
    finally:
        session.close()
    described = vault_logs.describe_gaps(gaps)
    return dict(
        changed=bool(session.executed_queries) or shipped["lines"] > 0 or bool(shipped["gaps"]),
        database=params["database"],
        shipped=dict(shipped, gaps=vault_logs.describe_gaps(shipped["gaps"])),
        gaps=gaps,
        ok=not gaps,
        reason="; ".join(described) if described else "no gap in the server log's lines",
        executed_queries=session.executed_queries,
    )
