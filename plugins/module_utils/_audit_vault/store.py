# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to the collection: not a public API, it may change without notice.
# Do not use it from other collections or standalone plugins/modules.
"""On the vault: per source database, a vault database with a guarded copy of the log, the
owner's record, the checkpoints, and the subscription that fills it (the vault_store module's
one call, :func:`run_store`)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgtrail.audit.plugins.module_utils import postgres
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_vault.common import (
    CHECKPOINTS,
    COLUMNS,
    GUARD,
    LOG,
    OWNER_ACTIONS,
    RECEIVED,
    ROLE,
    Refused,
    conninfo,
    ident,
)
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_vault.plan import column_steps
from ansible_collections.pgtrail.audit.plugins.module_utils.postgres import psycopg, sql

SUBSCRIPTION = """
SELECT s.subname, s.subenabled, s.subconninfo, s.subslotname, s.subpublications
  FROM pg_catalog.pg_subscription AS s
 WHERE s.subname = %s AND s.subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
"""

# The guard of the vault's tables: a statement trigger, ENABLE ALWAYS (the apply worker runs in
# replica mode), refusing UPDATE, DELETE and TRUNCATE to every role but the owner (a superuser
# too: it must SET ROLE to the owner), and recording what the owner does. SECURITY INVOKER:
# current_user is who runs the statement.
GUARD_BODY = """
BEGIN
    IF current_user <> TG_ARGV[0] THEN
        RAISE EXCEPTION 'pgtrail.audit vault: % on %.% is refused to %; only % may change the vault',
            TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME, current_user, TG_ARGV[0]
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    INSERT INTO {schema}.{actions} (session_user_name, command, table_name, statement)
    VALUES (session_user, TG_OP, TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, pg_catalog.current_query());
    RETURN NULL;
END
"""
GUARD_FUNCTION = (
    "CREATE OR REPLACE FUNCTION {schema}.{guard}() RETURNS trigger LANGUAGE plpgsql"
    " SET search_path = pg_catalog, pg_temp AS {body}"
)
GUARD_SOURCE = """
SELECT p.prosrc FROM pg_catalog.pg_proc AS p JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
 WHERE n.nspname = %s AND p.proname = %s AND p.pronargs = 0
"""

OWNER_ACTIONS_TABLE = """
CREATE TABLE {schema}.{actions} (
    at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    session_user_name text NOT NULL,
    command text NOT NULL,
    table_name text NOT NULL,
    statement text
)
"""

# The chain's signed checkpoints (docs/chain-v2.md, section 3), kept write-once like the log.
CHECKPOINTS_TABLE = """
CREATE TABLE {schema}.{checkpoints} (
    origin text NOT NULL,
    block bigint NOT NULL,
    note text NOT NULL,
    signed_at timestamptz,
    stored_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
)
"""

TABLES = """
SELECT c.relname, pg_catalog.pg_get_userbyid(c.relowner) AS owner,
       EXISTS (SELECT FROM pg_catalog.pg_trigger AS t
                WHERE t.tgrelid = c.oid AND t.tgname = %s AND t.tgenabled = 'A' AND t.tgnargs = 1
                  AND t.tgargs = pg_catalog.convert_to(%s, 'UTF8') || '\\x00'::bytea) AS guarded
  FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
 WHERE n.nspname = %s AND c.relkind IN ('r', 'p')
"""


def ensure_owner(session, owner, readers):
    problems = []
    rows = session.query(ROLE, [owner])
    if not rows:
        session.change(sql.SQL("CREATE ROLE {} NOLOGIN").format(ident(owner)))
    elif rows[0]["rolcanlogin"]:
        problems.append("the vault owner %s can log in: it must be a NOLOGIN role (SET ROLE to it)" % owner)
    for reader in readers:
        if not session.query(ROLE, [reader]):
            problems.append("reader role %s does not exist" % reader)
    return problems


def ensure_database(session, database, owner, readers):
    row = session.query(
        "SELECT pg_catalog.pg_get_userbyid(datdba) AS owner FROM pg_catalog.pg_database WHERE datname = %s", [database]
    )
    db = ident(database)
    if not row:
        session.change(sql.SQL("CREATE DATABASE {} OWNER {}").format(db, ident(owner)))
        session.change(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db))
        for reader in readers:
            session.change(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, ident(reader)))
        return True
    if row[0]["owner"] != owner:
        session.change(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(db, ident(owner)))
    public = session.scalar(
        "SELECT count(*) FROM pg_catalog.pg_database AS d,"
        " aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) AS a"
        " WHERE d.datname = %s AND a.grantee = 0",
        [database],
    )
    if public:
        session.change(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db))
    for reader in readers:
        if not session.scalar("SELECT has_database_privilege(%s, %s, 'CONNECT')", [reader, database]):
            session.change(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, ident(reader)))
    return False


def ensure_store(session, params, new_database):
    """Schema, tables, guard and grants of one vault database, in its session's transaction."""
    schema, owner, readers = params["schema"], params["owner"], params["reader_roles"]
    s, o = ident(schema), ident(owner)
    names = dict(
        schema=s,
        guard=ident(GUARD),
        actions=ident(OWNER_ACTIONS),
        checkpoints=ident(CHECKPOINTS),
        owner=sql.Literal(owner),
    )
    problems = []
    exists = new_database or session.scalar("SELECT count(*) FROM pg_catalog.pg_namespace WHERE nspname = %s", [schema])
    if new_database or not exists:
        session.change(sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(s, o))
    tables = (
        {}
        if new_database or not exists
        else dict((r["relname"], r) for r in session.query(TABLES, [GUARD, owner, schema]))
    )
    # The guard is the same text everywhere; the owner it lets through is its trigger's argument.
    body = sql.SQL(GUARD_BODY).format(**names).as_string(session.conn)
    if new_database or session.scalar(GUARD_SOURCE, [schema, GUARD]) != body:
        session.change(sql.SQL(GUARD_FUNCTION).format(body=sql.Literal(body), **names))
        session.change(sql.SQL("ALTER FUNCTION {}.{}() OWNER TO {}").format(s, names["guard"], o))
        session.change(sql.SQL("REVOKE ALL ON FUNCTION {}.{}() FROM PUBLIC").format(s, names["guard"]))
    wanted = [dict(name=c["name"], type=c["type"]) for c in params["columns"]]
    if LOG not in tables:
        columns = sql.SQL(", ").join(sql.SQL("{} {}").format(ident(c["name"]), sql.SQL(c["type"])) for c in wanted)
        session.change(
            sql.SQL("CREATE TABLE {}.{} ({}, {} timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp())").format(
                s, ident(LOG), columns, ident(RECEIVED)
            )
        )
        session.change(sql.SQL("CREATE INDEX ON {}.{} (id)").format(s, ident(LOG)))
    else:
        add, problems = column_steps(
            wanted, session.query(COLUMNS, [sql.Identifier(schema, LOG).as_string(session.conn)])
        )
        for column in add:
            session.change(
                sql.SQL("ALTER TABLE {}.{} ADD COLUMN {} {}").format(
                    s, ident(LOG), ident(column["name"]), sql.SQL(column["type"])
                )
            )
    for table, statement in ((OWNER_ACTIONS, OWNER_ACTIONS_TABLE), (CHECKPOINTS, CHECKPOINTS_TABLE)):
        if table not in tables:
            session.change(sql.SQL(statement).format(**names))
    for table in (LOG, OWNER_ACTIONS, CHECKPOINTS):
        t = ident(schema, table)
        row = tables.get(table)
        if row is None or row["owner"] != owner:
            session.change(sql.SQL("ALTER TABLE {} OWNER TO {}").format(t, o))
        if row is None or not row["guarded"]:
            if row is not None:
                session.change(sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(names["guard"], t))
            session.change(
                sql.SQL(
                    "CREATE TRIGGER {} BEFORE UPDATE OR DELETE OR TRUNCATE ON {}"
                    " FOR EACH STATEMENT EXECUTE FUNCTION {}.{}({})"
                ).format(names["guard"], t, s, names["guard"], names["owner"])
            )
            session.change(sql.SQL("ALTER TABLE {} ENABLE ALWAYS TRIGGER {}").format(t, names["guard"]))
        for reader in readers:
            if row is None or not session.scalar(
                "SELECT has_table_privilege(%s, %s, 'SELECT')", [reader, t.as_string(session.conn)]
            ):
                session.change(sql.SQL("GRANT SELECT ON TABLE {} TO {}").format(t, ident(reader)))
    for reader in readers:
        if not exists or not session.scalar("SELECT has_schema_privilege(%s, %s, 'USAGE')", [reader, schema]):
            session.change(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, ident(reader)))
    return problems


def ensure_subscription(session, params, new_database):
    """The subscription of one vault database (outside a transaction: CREATE SUBSCRIPTION makes
    the slot on the source)."""
    name = ident(params["subscription"])
    wanted = conninfo(params)
    rows = [] if new_database else session.query(SUBSCRIPTION, [params["subscription"]])
    if not rows:
        session.change(
            sql.SQL(
                "CREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION {} WITH (slot_name = {}, copy_data = true)"
            ).format(name, sql.Literal(wanted), ident(params["publication"]), sql.Literal(params["slot_name"]))
        )
        return dict(created=True)
    sub = rows[0]
    if sub["subconninfo"] != wanted:
        session.change(sql.SQL("ALTER SUBSCRIPTION {} CONNECTION {}").format(name, sql.Literal(wanted)))
    if list(sub["subpublications"]) != [params["publication"]]:
        session.change(sql.SQL("ALTER SUBSCRIPTION {} SET PUBLICATION {}").format(name, ident(params["publication"])))
    if sub["subslotname"] != params["slot_name"]:
        raise Refused(
            [
                "subscription %s uses slot %s, not %s: drop it (DROP SUBSCRIPTION) to let the vault make it again"
                % (params["subscription"], sub["subslotname"], params["slot_name"])
            ]
        )
    if not sub["subenabled"]:
        session.change(sql.SQL("ALTER SUBSCRIPTION {} ENABLE").format(name))
    return dict(created=False)


def _redact(queries, password):
    return [q.replace(password, "********") if password else q for q in queries]


def run_store(module):
    """The vault_store module's one call."""
    params = module.params
    database = params["database"]
    if len(database.encode("utf-8")) > 63:
        module.fail_json(
            msg="the vault database name %r is longer than 63 bytes (PostgreSQL would cut it): give the source a "
            "shorter name in the vault (pgtrail_vault_name)" % database,
            changed=False,
        )
    if not params["columns"] and not module.check_mode:
        module.fail_json(msg="no columns: the source's log is not built yet (run the audit_triggers role first)")
    main = postgres.open_session(module, autocommit=True)
    queries = []
    try:
        problems = ensure_owner(main, params["owner"], params["reader_roles"])
        if problems:
            module.fail_json(msg="Nothing was changed: %s" % "; ".join(problems), changed=False)
        new_database = ensure_database(main, database, params["owner"], params["reader_roles"])
        queries.extend(main.executed_queries)
    finally:
        main.close()
    problems, subscription = [], dict(created=new_database)
    if new_database and module.check_mode:
        # Nothing to read in a database that does not exist yet: what would run is the whole build.
        queries.append("-- then, in database %s: the schema, the log's copy, its guard and the subscription" % database)
    else:
        session = postgres.open_session(module, dbname=database, autocommit=True)
        try:
            with session.conn.transaction():
                problems = ensure_store(session, params, new_database)
            subscription = ensure_subscription(session, params, new_database)
        except Refused as exc:
            module.fail_json(msg="In database %s: %s" % (database, exc), changed=bool(queries))
        except psycopg.Error as exc:
            module.fail_json(
                msg="PostgreSQL refused a statement in database %s: %s" % (database, str(exc).strip()),
                executed_queries=_redact(queries + session.executed_queries, params["password"]),
            )
        finally:
            session.close()
        queries.extend("%s -- database %s" % (q, database) for q in session.executed_queries)
    for problem in problems:
        module.warn("vault database %s: %s" % (database, problem))
    return dict(
        changed=bool(queries),
        database=database,
        subscription=dict(subscription, name=params["subscription"], slot_name=params["slot_name"]),
        problems=problems,
        executed_queries=_redact(queries, params["password"]),
    )
