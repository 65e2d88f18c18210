"""The tamper suite, against real PostgreSQL: every attack on the audit trail is denied, recorded
or detected at the right place.

An application role (which owns an audited table, as applications that run their own migrations
do) tries to rewrite the log, forge a row, silence its table's audit triggers, skip them in
replica mode, hijack name resolution and switch pgaudit off. A superuser, whom no grant holds
back, edits, deletes and cuts the log short: the hash chain's verifier says where. Then eight
writers for thirty seconds, and the chain still verifies.

Each test module works in databases and roles of its own (unique names), dropped at the end.
"""

import re
import shlex
import uuid

import pytest
from pgaudit_testlib import PASSWORD, Objects, ensure_pgaudit_loaded, run_as, succeeded, unique

from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.sql_chain import LEAF

PERMISSION_DENIED = "permission denied"


@pytest.fixture(scope="module")
def objects(pg):
    made = Objects(pg)
    yield made
    made.drop()


@pytest.fixture(scope="module")
def estate(pg, objects):
    """A locked-down, hash-chained trail on accounts and scratch, both owned by the app role."""
    ensure_pgaudit_loaded(pg)
    db = objects.database("pgt_tamper")
    app = objects.role("pgt_app", login=True)
    reader = objects.role("pgt_reader", login=True)
    stranger = objects.role("pgt_stranger", login=True)
    owner = unique("pgt_audit_owner")
    objects.adopt_role(owner)
    pg.psql(
        "CREATE TABLE accounts (id int PRIMARY KEY, email text, balance int);"
        "INSERT INTO accounts SELECT g, 'user' || g || '@example.org', 100 FROM generate_series(1, 20) AS g;"
        "CREATE TABLE scratch (id int PRIMARY KEY);"
        'ALTER TABLE accounts OWNER TO "%s"; ALTER TABLE scratch OWNER TO "%s"' % (app, app),
        db=db,
    )
    trail = succeeded(
        pg.module("audit_trail", dict(database=db, tables=["accounts", "scratch"], app_roles=[app], hash_chain=True))
    )
    lockdown = succeeded(
        pg.module("audit_lockdown", dict(database=db, owner=owner, app_roles=[app], reader_roles=[reader]), diff=True)
    )
    return dict(db=db, app=app, reader=reader, stranger=stranger, owner=owner, trail=trail, lockdown=lockdown)


def scalar(pg, db, query):
    return pg.psql(query, db=db)


def log_count(pg, db):
    return int(scalar(pg, db, "SELECT count(*) FROM audit.audit_log"))


def refused(pg, role, db, statement, pattern=PERMISSION_DENIED):
    """Run statement as role; it must fail with an error matching pattern. Returns the error."""
    with pytest.raises(AssertionError) as error:
        run_as(pg, role, db, statement)
    message = str(error.value)
    assert re.search(pattern, message), message
    return message


def reader_grants(reader):
    """A reader's grants: the log and what chain_verify reads, SELECT only."""
    return [
        {"table": "audit.%s" % table, "role": reader, "privileges": ["SELECT"]}
        for table in ("audit_log", "chain_block", "chain_head")
    ]


def chain_verify(pg, db, check_mode=False, **args):
    return succeeded(pg.module("chain_verify", dict(args, database=db), check_mode=check_mode))


# --- the lockdown ------------------------------------------------------------------------------------


def test_the_trail_belongs_to_a_nologin_owner_and_the_grants_in_place_are_returned(pg, estate):
    db, app, reader, owner = estate["db"], estate["app"], estate["reader"], estate["owner"]
    result = estate["lockdown"]
    assert result["changed"] is True and result["owner"] == owner and result["owner_created"] is True
    assert result["grants"] == reader_grants(reader)
    assert sorted((g["function"].split("(")[0], g["role"]) for g in result["function_grants"]) == [
        ("audit.changed_fields", reader),
        ("audit.log_event", app),
        ("audit.log_row_change", "PUBLIC"),
    ]
    assert sorted((g["role"], g["privileges"][0]) for g in result["schema_grants"]) == sorted(
        [(app, "USAGE"), (reader, "USAGE")]
    )
    assert result["default_privileges"] == [{"objects": "TABLES", "role": reader, "privileges": ["SELECT"]}]
    assert result["diff"]["before"]["owner"] == "postgres" and result["diff"]["after"]["owner"] == owner

    assert scalar(pg, db, "SELECT rolcanlogin::text || rolsuper::text FROM pg_roles WHERE rolname = '%s'" % owner) == (
        "falsefalse"
    )
    # Everything in the schema is the owner's; the definer functions run as it, not as a superuser.
    assert scalar(pg, db, "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'audit'") == owner
    assert scalar(
        pg,
        db,
        "SELECT string_agg(DISTINCT pg_get_userbyid(relowner), ',') FROM pg_class "
        "WHERE relnamespace = 'audit'::regnamespace",
    ) == (owner)
    assert scalar(
        pg,
        db,
        "SELECT string_agg(DISTINCT pg_get_userbyid(proowner) || ':' || prosecdef::text, ',') FROM pg_proc "
        "WHERE pronamespace = 'audit'::regnamespace AND proname NOT IN ('current_actor', 'changed_fields', 'row_data')",
    ) == ("%s:true" % owner)
    # Event triggers stay a superuser's, as PostgreSQL requires.
    assert (
        scalar(pg, db, "SELECT string_agg(DISTINCT pg_get_userbyid(evtowner), ',') FROM pg_event_trigger") == "postgres"
    )
    # PUBLIC holds nothing on the schema, its tables or its functions but EXECUTE on the row
    # trigger function, which partitions clone (test_trail_ddl.py).
    assert scalar(
        pg,
        db,
        "SELECT count(*) FROM (SELECT aclexplode(relacl) AS g FROM pg_class WHERE relnamespace = 'audit'::regnamespace "
        "UNION ALL SELECT aclexplode(coalesce(proacl, acldefault('f', proowner))) FROM pg_proc "
        "WHERE pronamespace = 'audit'::regnamespace AND proname <> 'log_row_change' "
        "UNION ALL SELECT aclexplode(nspacl) FROM pg_namespace "
        "WHERE nspname = 'audit') AS a WHERE (a.g).grantee = 0",
    ) == ("0")
    again = succeeded(
        pg.module("audit_lockdown", dict(database=db, owner=owner, app_roles=[app], reader_roles=[reader]))
    )
    assert again["changed"] is False and again["executed_queries"] == []
    assert again["grants"] == result["grants"]
    trail = succeeded(
        pg.module("audit_trail", dict(database=db, tables=["accounts", "scratch"], app_roles=[app], hash_chain=True))
    )
    assert trail["changed"] is False


def test_check_mode_and_diff_show_a_grant_that_crept_in_and_change_nothing(pg, estate):
    db, app, reader, owner = estate["db"], estate["app"], estate["reader"], estate["owner"]
    pg.psql('GRANT UPDATE ON audit.audit_log TO "%s"; GRANT SELECT ON audit.chain_head TO PUBLIC' % app, db=db)
    args = dict(database=db, owner=owner, app_roles=[app], reader_roles=[reader])
    checked = succeeded(pg.module("audit_lockdown", args, check_mode=True, diff=True))
    assert checked["changed"] is True
    assert checked["executed_queries"] == [
        'REVOKE UPDATE ON TABLE "audit"."audit_log" FROM "%s"' % app,
        'REVOKE SELECT ON TABLE "audit"."chain_head" FROM PUBLIC',
    ]
    assert checked["diff"]["before"]["tables"]["audit.audit_log"][app] == ["UPDATE"]
    assert app not in checked["diff"]["after"]["tables"]["audit.audit_log"]
    # In check mode the grants in place are still there, and returned as such.
    assert {"table": "audit.audit_log", "role": app, "privileges": ["UPDATE"]} in checked["grants"]
    assert scalar(pg, db, "SELECT has_table_privilege('%s', 'audit.audit_log', 'UPDATE')" % app) == "t"
    fixed = succeeded(pg.module("audit_lockdown", args))
    assert fixed["executed_queries"] == checked["executed_queries"]
    assert fixed["grants"] == reader_grants(reader)


def test_an_owner_that_can_log_in_is_refused_before_any_change(pg, estate, objects):
    login = objects.role("pgt_login_owner", login=True)
    result = pg.module("audit_lockdown", dict(database=estate["db"], owner=login, app_roles=[estate["app"]]))
    assert result["failed"] and result["executed_queries"] == []
    assert "the owner %s can log in" % login in result["msg"]
    assert (
        scalar(pg, estate["db"], "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'audit'")
        == (estate["owner"])
    )


def test_a_member_of_pg_write_all_data_is_refused_as_an_app_role_and_reported_as_a_log_writer(pg, estate, objects):
    db, app, reader, owner = estate["db"], estate["app"], estate["reader"], estate["owner"]
    etl = objects.role("pgt_etl", login=True)
    pg.psql('GRANT pg_write_all_data TO "%s"' % etl)
    try:
        refused_run = pg.module("audit_lockdown", dict(database=db, owner=owner, app_roles=[app, etl]))
        assert refused_run["failed"] and refused_run["executed_queries"] == []
        assert "role %s (app_roles) is a member of pg_write_all_data" % etl in refused_run["msg"]
        # Not named, it is still reported: no grant of the lockdown's can hold it back.
        args = dict(database=db, owner=owner, app_roles=[app], reader_roles=[reader])
        reported = succeeded(pg.module("audit_lockdown", args))
        assert [w for w in reported["log_writers"] if w["role"] == etl] == [
            {"role": etl, "privileges": ["INSERT", "UPDATE", "DELETE"]}
        ]
        assert any("may still write audit.audit_log: %s" % etl in w for w in reported.get("warnings", []))
    finally:
        pg.psql('REVOKE pg_write_all_data FROM "%s"' % etl)


# --- an application role against the log ------------------------------------------------------------


def test_an_application_role_cannot_update_the_log(pg, estate):
    db, app = estate["db"], estate["app"]
    run_as(pg, app, db, "UPDATE accounts SET balance = 90 WHERE id = 1")
    before = scalar(pg, db, "SELECT md5(string_agg(audit_log::text, '' ORDER BY id)) FROM audit.audit_log")
    refused(pg, app, db, "UPDATE audit.audit_log SET new_data = '{}' WHERE table_name = 'accounts'")
    refused(pg, app, db, "SET search_path = audit; UPDATE audit_log SET actor_id = 'someone else'")
    assert scalar(pg, db, "SELECT md5(string_agg(audit_log::text, '' ORDER BY id)) FROM audit.audit_log") == before


def test_an_application_role_cannot_delete_from_the_log(pg, estate):
    db, app = estate["db"], estate["app"]
    count = log_count(pg, db)
    refused(pg, app, db, "DELETE FROM audit.audit_log")
    refused(pg, app, db, "DELETE FROM audit.audit_log WHERE id = (SELECT max(id) FROM audit.audit_log)")
    assert log_count(pg, db) == count


def test_an_application_role_cannot_truncate_the_log(pg, estate):
    db, app = estate["db"], estate["app"]
    count = log_count(pg, db)
    refused(pg, app, db, "TRUNCATE audit.audit_log")
    refused(pg, app, db, "TRUNCATE audit.chain_head")
    refused(pg, app, db, "TRUNCATE audit.chain_block")
    assert log_count(pg, db) == count


def test_an_application_role_cannot_forge_a_log_row_and_writes_only_through_the_trail(pg, estate):
    db, app = estate["db"], estate["app"]
    count = log_count(pg, db)
    refused(
        pg,
        app,
        db,
        "INSERT INTO audit.audit_log (kind, table_name, action, actor_id) VALUES ('event', 'auth', 'LOGIN', 'admin')",
    )
    refused(pg, app, db, "COPY audit.audit_log (kind, table_name, action) FROM STDIN")
    # Nor through the trail's own functions, nor by sealing a chain of its own.
    refused(pg, app, db, "SELECT audit.seal()")
    refused(pg, app, db, "INSERT INTO audit.chain_block (block) VALUES (1000)")
    refused(pg, app, db, "UPDATE audit.chain_head SET seq = 0")
    assert log_count(pg, db) == count
    # The one way in: log_event(), whose row is stored and sealed like the others.
    event_id = run_as(pg, app, db, "SELECT audit.log_event('EXPORT', 'accounts', true, '{\"rows\": 20}')")
    assert scalar(pg, db, "SELECT login_role FROM audit.audit_log WHERE id = %s" % event_id) == app
    verified = chain_verify(pg, db)
    assert verified["ok"] is True and verified["sealed"] >= 1 and verified["unsealed"] == 0


def test_the_owner_cannot_update_delete_or_truncate_the_log_or_its_blocks(pg, estate):
    db, owner = estate["db"], estate["owner"]
    count = log_count(pg, db)
    for statement in (
        "UPDATE audit.audit_log SET actor_id = 'x'",
        "DELETE FROM audit.audit_log",
        "TRUNCATE audit.audit_log",
        "UPDATE audit.chain_block SET sealed_at = now()",
        "DELETE FROM audit.chain_block",
        "TRUNCATE audit.chain_block",
    ):
        # The owner holds every privilege on its tables: the insert-only trigger refuses.
        message = pg.psql('SET ROLE "%s"; %s' % (owner, statement), db=db, check=False)
        assert "is insert-only" in message.stderr and message.returncode != 0, (statement, message)
    assert log_count(pg, db) == count


def test_a_table_owner_cannot_disable_the_audit_trigger_of_its_table(pg, estate):
    db, app = estate["db"], estate["app"]
    for statement in (
        "ALTER TABLE accounts DISABLE TRIGGER pgtrail_audit_row",
        "ALTER TABLE accounts DISABLE TRIGGER ALL",
        "ALTER TABLE accounts ENABLE REPLICA TRIGGER pgtrail_audit_row",
        "ALTER TABLE accounts ENABLE TRIGGER pgtrail_audit_truncate",
        "CREATE OR REPLACE TRIGGER pgtrail_audit_row AFTER INSERT ON accounts FOR EACH ROW "
        "EXECUTE FUNCTION suppress_redundant_updates_trigger()",
    ):
        message = refused(pg, app, db, statement, "only a superuser may weaken the audit trail")
        assert "not ENABLE ALWAYS" in message
    # Rolled back with the statement: the triggers are as they were and the next write is logged.
    assert scalar(
        pg,
        db,
        "SELECT string_agg(tgname || ':' || tgenabled::text, ',' ORDER BY tgname) FROM pg_trigger "
        "WHERE tgrelid = 'accounts'::regclass",
    ) == ("pgtrail_audit_row:A,pgtrail_audit_truncate:A")
    count = log_count(pg, db)
    run_as(pg, app, db, "BEGIN; ALTER TABLE accounts ADD COLUMN note text; UPDATE accounts SET note = 'x'; COMMIT")
    actions = scalar(
        pg,
        db,
        "SELECT string_agg(DISTINCT kind || ' ' || action || ' ' || login_role, ',') FROM audit.audit_log "
        "WHERE txid = (SELECT max(txid) FROM audit.audit_log)",
    )
    assert actions == "ddl ALTER TABLE %s,row UPDATE %s" % (app, app)
    assert log_count(pg, db) == count + 21


def test_a_table_owner_cannot_drop_or_rename_the_audit_trigger_of_its_table_but_its_table_drop_is_recorded(pg, estate):
    db, app = estate["db"], estate["app"]
    refused(
        pg,
        app,
        db,
        "DROP TRIGGER pgtrail_audit_row ON accounts",
        "drops the audit trigger pgtrail_audit_row on public.accounts of a table that stays",
    )
    refused(pg, app, db, "DROP TRIGGER pgtrail_audit_truncate ON scratch", "only a superuser may weaken")
    refused(
        pg,
        app,
        db,
        "ALTER TRIGGER pgtrail_audit_row ON accounts RENAME TO harmless_looking",
        "renames the audit trigger harmless_looking on public.accounts",
    )
    assert scalar(pg, db, "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'pgtrail_audit_%'") == "4"
    # Its own table it may drop: recorded, with who did it.
    run_as(pg, app, db, "DROP TABLE scratch")
    assert scalar(
        pg,
        db,
        "SELECT action || ',' || table_name || ',' || login_role FROM audit.audit_log "
        "WHERE kind = 'ddl' ORDER BY id DESC LIMIT 1",
    ) == ("DROP TABLE,scratch,%s" % app)


def test_replica_mode_is_denied_to_an_application_role_and_audited_anyway_when_granted(pg, estate):
    db, app = estate["db"], estate["app"]
    refused(
        pg,
        app,
        db,
        "SET session_replication_role = replica",
        'permission denied to set parameter "session_replication_role"',
    )
    pg.psql('GRANT SET ON PARAMETER session_replication_role TO "%s"' % app)
    try:
        count = log_count(pg, db)
        run_as(pg, app, db, "SET session_replication_role = replica; UPDATE accounts SET balance = 7 WHERE id = 2")
        assert log_count(pg, db) == count + 1
        assert scalar(pg, db, "SELECT new_data->>'balance' FROM audit.audit_log ORDER BY id DESC LIMIT 1") == "7"
    finally:
        pg.psql('REVOKE SET ON PARAMETER session_replication_role FROM "%s"' % app)


def test_a_function_planted_in_public_cannot_hijack_the_trail(pg, estate):
    db, app = estate["db"], estate["app"]
    plant = (
        "CREATE FUNCTION public.to_jsonb(anyelement) RETURNS jsonb LANGUAGE plpgsql AS "
        "$$BEGIN RAISE EXCEPTION 'hijacked to_jsonb'; END$$;"
        "CREATE FUNCTION public.current_setting(text, boolean) RETURNS text LANGUAGE plpgsql AS "
        "$$BEGIN RAISE EXCEPTION 'hijacked current_setting'; END$$;"
        "CREATE FUNCTION public.sha256(bytea) RETURNS bytea LANGUAGE plpgsql AS "
        "$$BEGIN RAISE EXCEPTION 'hijacked sha256'; END$$;"
        "CREATE FUNCTION public.minus(jsonb, text[]) RETURNS jsonb LANGUAGE plpgsql AS "
        "$$BEGIN RAISE EXCEPTION 'hijacked operator'; END$$;"
        "CREATE OPERATOR public.- (LEFTARG = jsonb, RIGHTARG = text[], FUNCTION = public.minus);"
        "CREATE TABLE public.audit_log (id bigint, kind text, table_name text, action text, new_data jsonb)"
    )
    # PostgreSQL 15 and later: nobody but the owner creates in public.
    refused(pg, app, db, plant, "permission denied for schema public")
    pg.psql('GRANT CREATE ON SCHEMA public TO "%s"' % app, db=db)
    try:
        run_as(pg, app, db, plant)
        count = log_count(pg, db)
        run_as(
            pg,
            app,
            db,
            "SET search_path = public, pg_catalog;"
            "BEGIN; SELECT pg_catalog.set_config('pgtrail.actor_id', 'actor-7', true);"
            "UPDATE accounts SET balance = 55 WHERE id = 3; COMMIT;",
        )
        # The trigger used pg_catalog's functions and operators and the audit schema's log.
        assert log_count(pg, db) == count + 1
        assert scalar(
            pg, db, "SELECT actor_id || ',' || (new_data->>'balance') FROM audit.audit_log ORDER BY id DESC LIMIT 1"
        ) == ("actor-7,55")
        assert scalar(pg, db, "SELECT count(*) FROM public.audit_log") == "0"
        assert chain_verify(pg, db)["ok"] is True
    finally:
        pg.psql(
            "DROP OPERATOR IF EXISTS public.- (jsonb, text[]); DROP FUNCTION IF EXISTS public.minus(jsonb, text[]);"
            "DROP FUNCTION IF EXISTS public.to_jsonb(anyelement);"
            "DROP FUNCTION IF EXISTS public.current_setting(text, boolean);"
            "DROP FUNCTION IF EXISTS public.sha256(bytea); DROP TABLE IF EXISTS public.audit_log;"
            'REVOKE CREATE ON SCHEMA public FROM "%s"' % app,
            db=db,
        )


def test_an_application_role_cannot_switch_pgaudit_off_and_a_grant_that_would_let_it_is_revoked(pg, estate):
    db, app, reader, owner = estate["db"], estate["app"], estate["reader"], estate["owner"]
    refused(pg, app, db, "SET pgaudit.log = 'none'", 'permission denied to set parameter "pgaudit.log"')
    args = dict(database=db, owner=owner, app_roles=[app], reader_roles=[reader])
    pg.psql('GRANT SET ON PARAMETER pgaudit.log TO "%s"' % app)
    try:
        run_as(pg, app, db, "SET pgaudit.log = 'none'")  # the hole a grant opens
        reported = succeeded(pg.module("audit_lockdown", dict(args, revoke_parameter_grants=False)))
        held = [{"parameter": "pgaudit.log", "role": app, "privileges": ["SET"]}]
        assert reported["changed"] is False and reported["parameter_grants"] == held
        assert any("may set pgaudit.*" in w and app in w for w in reported.get("warnings", []))
        revoked = succeeded(pg.module("audit_lockdown", args))
        assert revoked["parameter_grants_revoked"] == held and revoked["parameter_grants"] == []
        assert revoked["executed_queries"] == ['REVOKE ALL ON PARAMETER "pgaudit"."log" FROM "%s"' % app]
        refused(pg, app, db, "SET pgaudit.log = 'none'", 'permission denied to set parameter "pgaudit.log"')
    finally:
        pg.psql('REVOKE SET ON PARAMETER pgaudit.log FROM "%s"' % app)


def test_a_reader_can_read_and_verify_the_log_and_nothing_else(pg, estate):
    db, reader = estate["db"], estate["reader"]
    assert int(run_as(pg, reader, db, "SELECT count(*) FROM audit.audit_log")) == log_count(pg, db)
    changed = """SELECT audit.changed_fields('{"a": 1, "b": 2}', '{"a": 1, "b": 3, "c": 4}')"""
    assert run_as(pg, reader, db, changed) == "{b,c}"
    # The auditor's own login verifies the chain (it reads the log, chain_block and chain_head);
    # sealing stays the owner's: the rows of a write after the last seal wait for the timer.
    owners = chain_verify(pg, db)
    run_as(pg, estate["app"], db, "UPDATE accounts SET balance = balance + 1 WHERE id = 4")
    as_reader = dict(login_user=reader, login_password=PASSWORD, login_host="127.0.0.1")
    verified = chain_verify(pg, db, **as_reader)
    assert verified["ok"] is True and verified["changed"] is False, verified["reason"]
    assert verified["sealed"] == 0 and verified["unsealed"] == 1 and verified["head"] == owners["head"]
    assert "may not run audit.seal() (a reader role)" in verified["reason"]
    checked = chain_verify(
        pg, db, seal=False, checkpoint=dict(size=owners["head"]["size"], root=owners["head"]["root"]), **as_reader
    )
    assert checked["ok"] is True and checked["extends"] is True, checked["reason"]
    for statement in (
        "UPDATE audit.audit_log SET actor_id = 'x'",
        "DELETE FROM audit.audit_log",
        "INSERT INTO audit.audit_log (kind, table_name, action) VALUES ('event', 'x', 'x')",
        "TRUNCATE audit.audit_log",
        "SELECT audit.log_event('LOGIN', 'auth')",
        "SELECT audit.seal()",
        "INSERT INTO audit.chain_block (block) VALUES (1000)",
        "UPDATE audit.chain_block SET root = NULL",
        "DELETE FROM audit.chain_block",
        "UPDATE audit.chain_head SET first_block = 0",
        "TRUNCATE audit.chain_head",
        # Nor hold up the sealer: a row lock on the head, a lock that conflicts with its insert.
        "SELECT * FROM audit.chain_head FOR KEY SHARE",
        "BEGIN; LOCK TABLE audit.chain_block IN SHARE MODE; COMMIT",
        "SELECT * FROM audit.audited_tables",
    ):
        refused(pg, reader, db, statement)
    assert chain_verify(pg, db)["sealed"] == 1


def test_a_role_the_inventory_does_not_name_holds_nothing_on_the_trail(pg, estate):
    db, stranger = estate["db"], estate["stranger"]
    for statement in (
        "SELECT count(*) FROM audit.audit_log",
        "SELECT audit.log_event('LOGIN', 'auth')",
        "SELECT audit.seal()",
    ):
        refused(pg, stranger, db, statement, "permission denied for schema audit")


def test_new_partitions_of_a_locked_down_log_are_made_by_the_owner_with_the_same_rights(pg, objects):
    db = objects.database("pgt_tamper_parts")
    app, reader = objects.role("pgt_app"), objects.role("pgt_reader")
    owner = unique("pgt_audit_owner")
    objects.adopt_role(owner)
    pg.psql("CREATE TABLE sales (id int PRIMARY KEY)", db=db)
    trail_args = dict(database=db, tables=["sales"], partition="monthly", hash_chain=True, app_roles=[app])
    lock_args = dict(database=db, owner=owner, app_roles=[app], reader_roles=[reader])
    succeeded(pg.module("audit_trail", trail_args))
    succeeded(pg.module("audit_lockdown", lock_args))
    newest = scalar(
        pg,
        db,
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'audit.audit_log'::regclass AND c.relname <> 'audit_log_default' "
        "ORDER BY c.relname DESC LIMIT 1",
    )
    pg.psql("DROP TABLE audit.%s" % newest, db=db)
    remade = succeeded(pg.module("audit_trail", trail_args))
    queries = remade["executed_queries"]
    at = [i for i, q in enumerate(queries) if q.startswith('CREATE TABLE "audit"."%s"' % newest)]
    assert at and queries[at[0] - 1] == 'SET LOCAL ROLE "%s"' % owner
    assert queries[at[0] + 1] == "SET LOCAL ROLE NONE"
    rights = scalar(
        pg,
        db,
        "SELECT pg_get_userbyid(relowner) || ',' || has_table_privilege('%s', oid, 'SELECT') || ','"
        " || has_table_privilege('%s', oid, 'SELECT,INSERT,UPDATE,DELETE,TRUNCATE') FROM pg_class "
        "WHERE oid = 'audit.%s'::regclass" % (reader, app, newest),
    )
    assert rights == "%s,true,false" % owner
    # The same rights as its siblings: the lockdown finds nothing to do.
    assert succeeded(pg.module("audit_lockdown", lock_args))["changed"] is False
    assert succeeded(pg.module("audit_trail", trail_args))["changed"] is False


# --- a superuser against the chain ---------------------------------------------------------------------
#
# One chained database is built once (the template); each case tampers with a copy of it
# (CREATE DATABASE ... TEMPLATE: a file copy, same cluster, so the blocks' snapshots still hold)
# and the verifier must name the first bad position, the row there and why.

# A superuser gets past the insert-only trigger the way retention does (or by disabling it).
UNGUARDED = "SET LOCAL pgtrail_audit.retention = 'on';"


@pytest.fixture(scope="module")
def chain_template(pg, objects):
    """Blocks 1 (the module's DDL rows and one write), 2 (one transaction of three rows) and 3 (two
    transactions of two rows); returns the database and the facts the cases are written in."""
    db = objects.database("pgt_chain_tpl")
    pg.psql("CREATE TABLE ledger (id int PRIMARY KEY, amount numeric, memo text)", db=db)
    succeeded(pg.module("audit_trail", dict(database=db, tables=["ledger"], hash_chain=True)))
    pg.psql("INSERT INTO ledger VALUES (1, 1, 'one')", db=db)
    pg.psql("SELECT audit.seal()", db=db)
    pg.psql("INSERT INTO ledger SELECT g, g, 'memo ' || g FROM generate_series(2, 4) AS g", db=db)
    pg.psql("SELECT audit.seal()", db=db)
    pg.psql("INSERT INTO ledger VALUES (5, 5, 'five'), (6, 6, 'six')", db=db)
    pg.psql("INSERT INTO ledger VALUES (7, 7, 'seven'), (8, 8, 'eight')", db=db)
    pg.psql("SELECT audit.seal()", db=db)
    head = chain_verify(pg, db, seal=False)
    assert head["ok"] is True and head["head"]["block"] == 3, head["reason"]
    # Each row's position, read from the stored leaves (not from the verifier's logic).
    positions = dict(
        tuple(map(int, line.split("|")))
        for line in scalar(
            pg,
            db,
            "SELECT l.id, b.first_pos + (position(%s IN b.leaves) - 1) / 32 FROM audit.audit_log AS l "
            "JOIN audit.chain_block AS b ON position(%s IN b.leaves) > 0 ORDER BY l.id" % (LEAF, LEAF),
        ).splitlines()
    )
    ids = dict(
        tuple(line.split("|"))
        for line in scalar(
            pg, db, "SELECT new_data->>'id', id FROM audit.audit_log WHERE kind = 'row' ORDER BY id"
        ).splitlines()
    )
    row = dict((int(k), int(v)) for k, v in ids.items())  # ledger id -> log id
    return dict(db=db, head=head["head"], positions=positions, row=row)


def copy_of(pg, objects, template):
    return objects.database("pgt_chain_case", template='"%s"' % template["db"])


def case_edited(t):
    edited = t["row"][3]
    sql = UNGUARDED + "UPDATE audit.audit_log SET new_data = new_data || '{\"amount\": 0}' WHERE id = %d" % edited
    return sql, t["positions"][edited], edited, "does not hash to the leaf sealed at its position"


def case_deleted_middle(t):
    deleted, after = t["row"][3], t["row"][4]
    sql = UNGUARDED + "DELETE FROM audit.audit_log WHERE id = %d" % deleted
    return sql, t["positions"][deleted], after, "the row sealed at this position is missing"


def case_deleted_tail(t):
    last = t["row"][8]
    sql = UNGUARDED + "DELETE FROM audit.audit_log WHERE id = %d" % last
    return sql, t["positions"][last], None, "the block has fewer rows than it sealed"


def case_swapped(t):
    a, b = t["row"][5], t["row"][6]
    sql = UNGUARDED + (
        "UPDATE audit.audit_log SET id = -1 WHERE id = %d; UPDATE audit.audit_log SET id = %d WHERE id = %d;"
        "UPDATE audit.audit_log SET id = %d WHERE id = -1" % (a, a, b, b)
    )
    return sql, t["positions"][a], a, "does not hash to the leaf sealed at its position"


def case_forged_in_sealed_transaction(t):
    # A superuser who read the source: every column as the trail writes it, the txid of the
    # transaction sealed last in block 2, an id after every other.
    source = t["row"][4]
    sql = (
        "INSERT INTO audit.audit_log SELECT id + 1000, table_name, 'DELETE', new_data, NULL, actor_id, changed_at, "
        "kind, schema_name, txid, statement_at, wall_at, login_role, effective_role, application_name, client_addr, "
        "client_port, resource, success, client_ip, user_agent, metadata FROM audit.audit_log WHERE id = %d" % source
    )
    return sql, t["positions"][source] + 1, source + 1000, "a row was added to a sealed block"


def case_forged_older_than_the_chain(t):
    source = t["row"][1]
    sql = "INSERT INTO audit.audit_log (id, table_name, action, kind, txid) SELECT %d, 'ledger', 'INSERT', 'row', 3" % (
        source + 2000
    )
    return sql, 0, source + 2000, "a row older than the chain"


TAMPERING = {
    "an edited row": case_edited,
    "a deleted middle row": case_deleted_middle,
    "a deleted tail": case_deleted_tail,
    "two rows swapped": case_swapped,
    "a forged row with the txid of a sealed transaction": case_forged_in_sealed_transaction,
    "a forged row with a txid older than the chain": case_forged_older_than_the_chain,
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_a_superuser_tampering_with_the_log_is_caught_at_the_first_bad_position(pg, objects, chain_template, case):
    statement, position, row_id, why = TAMPERING[case](chain_template)
    db = copy_of(pg, objects, chain_template)
    pg.psql("BEGIN;" + statement + ";COMMIT", db=db)
    caught = chain_verify(pg, db, seal=False)
    assert caught["ok"] is False, caught["reason"]
    assert caught["broken"]["position"] == position and caught["broken"]["id"] == row_id, caught["broken"]
    assert why in caught["broken"]["reason"] and why in caught["reason"]
    assert caught["head"] == chain_template["head"]


def test_a_deleted_tail_with_its_blocks_is_caught_against_the_checkpoint(pg, objects, chain_template):
    db = copy_of(pg, objects, chain_template)
    signed = chain_template["head"]
    pg.psql(
        "BEGIN;" + UNGUARDED + "ALTER TABLE audit.chain_block DISABLE TRIGGER pgtrail_insert_only;"
        "DELETE FROM audit.audit_log WHERE id >= %d;"
        "DELETE FROM audit.chain_block WHERE block = 3;"
        "ALTER TABLE audit.chain_block ENABLE ALWAYS TRIGGER pgtrail_insert_only; COMMIT" % chain_template["row"][5],
        db=db,
    )
    # Consistent in itself: only the checkpoint shows what is gone.
    alone = chain_verify(pg, db, seal=False)
    assert alone["ok"] is True and alone["head"]["size"] < signed["size"], alone["reason"]
    caught = chain_verify(pg, db, seal=False, checkpoint=dict(size=signed["size"], root=signed["root"]))
    assert caught["ok"] is False and caught["extends"] is False
    assert caught["broken"] == dict(
        position=alone["head"]["size"] + 1,
        id=None,
        reason="the chain ends at position %d, before the checkpoint's size %d: the rows after it and their blocks "
        "were deleted" % (alone["head"]["size"], signed["size"]),
    )


def test_a_consistent_rewrite_after_a_row_is_caught_against_the_checkpoint(pg, objects, chain_template):
    db = copy_of(pg, objects, chain_template)
    signed = chain_template["head"]
    checkpoint = dict(size=signed["size"], root=signed["root"])
    assert chain_verify(pg, db, seal=False, checkpoint=checkpoint)["extends"] is True
    # Edit a row of block 2, delete blocks 2 and 3, and let the sealer seal everything again.
    pg.psql(
        "BEGIN;" + UNGUARDED + "ALTER TABLE audit.chain_block DISABLE TRIGGER pgtrail_insert_only;"
        'UPDATE audit.audit_log SET new_data = new_data || \'{"memo": "forged"}\' WHERE id = %d;'
        "DELETE FROM audit.chain_block WHERE block >= 2;"
        "ALTER TABLE audit.chain_block ENABLE ALWAYS TRIGGER pgtrail_insert_only; COMMIT;"
        "SELECT audit.seal()" % chain_template["row"][3],
        db=db,
    )
    # (The DDL event trigger logged the trigger's DISABLE and ENABLE: sealed with the rest.)
    rewritten = chain_verify(pg, db, seal=False)
    assert rewritten["ok"] is True and rewritten["head"]["size"] >= signed["size"], rewritten["reason"]
    assert rewritten["head"]["root"] != signed["root"]
    caught = chain_verify(pg, db, seal=False, checkpoint=checkpoint)
    assert caught["ok"] is False and caught["extends"] is False
    assert caught["broken"]["position"] == signed["size"] and caught["broken"]["id"] is None
    assert "the chain was rewritten at or before" in caught["reason"]


def test_the_head_is_what_a_checkpoint_signs_and_an_intact_chain_extends_it(pg, objects, chain_template):
    db = copy_of(pg, objects, chain_template)
    signed = chain_template["head"]
    assert signed["origin"] == "pgtrail.audit/chain/" + scalar(
        pg, db, "SELECT chain_id FROM audit.chain_block WHERE block = 0"
    )
    assert signed["root"] == scalar(
        pg, db, "SELECT encode(hash, 'base64') FROM audit.chain_block WHERE block = %d" % signed["block"]
    )
    pg.psql("INSERT INTO ledger VALUES (9, 9, 'nine')", db=db)
    grown = chain_verify(pg, db, checkpoint=dict(size=signed["size"], root=signed["root"]))
    assert grown["ok"] is True and grown["extends"] is True and grown["sealed"] == 1 and grown["changed"] is True
    assert grown["head"]["size"] == signed["size"] + 1 and grown["head"]["origin"] == signed["origin"]
    bad = pg.module("chain_verify", dict(database=db, checkpoint=dict(size=1, root="not base64!")))
    assert bad["failed"] and "checkpoint.root must be the base64 of a 32-byte SHA-256" in bad["msg"]


def test_the_chain_does_not_depend_on_the_sessions_time_zone_date_style_float_digits_or_search_path(pg, objects):
    db = objects.database("pgt_chain_settings")
    pg.psql("CREATE TABLE ledger (id int PRIMARY KEY, amount numeric, memo text)", db=db)
    succeeded(pg.module("audit_trail", dict(database=db, tables=["ledger"], hash_chain=True)))
    odd = (
        "SET TimeZone = 'Pacific/Chatham'; SET DateStyle = 'SQL, DMY'; SET IntervalStyle = 'sql_standard';"
        "SET extra_float_digits = -15; SET bytea_output = 'escape'; SET search_path = pg_temp, public;"
    )
    pg.psql(
        odd + "INSERT INTO ledger VALUES (100, 1e-7, 'ünïcödé \"quoted\" \\\\ back,slash (paren)');"
        "UPDATE ledger SET memo = NULL WHERE id = 100; SELECT audit.seal()",
        db=db,
    )
    verified = chain_verify(pg, db, seal=False)
    assert verified["ok"] is True and verified["unsealed"] == 0, verified["reason"]


def test_the_chain_is_added_in_place_to_a_log_with_rows_and_cannot_be_switched_off(pg, objects):
    db = objects.database("pgt_chain_later")
    pg.psql("CREATE TABLE notes (id int PRIMARY KEY, body text)", db=db)
    first = succeeded(pg.module("audit_trail", dict(database=db, tables=["notes"])))
    assert first["schema_version"] == 1 and first["hash_chain"] is False
    pg.psql("INSERT INTO notes SELECT g, 'n' || g FROM generate_series(1, 50) AS g", db=db)
    chained = succeeded(pg.module("audit_trail", dict(database=db, tables=["notes"], hash_chain=True), diff=True))
    assert chained["schema_version"] == 3 and chained["hash_chain"] is True
    assert chained["diff"]["before"]["hash_chain"] is False and chained["diff"]["after"]["hash_chain"] is True
    rebuilt = ("DROP TABLE", 'CREATE TABLE "audit"."audit_log"')
    assert not [q for q in chained["executed_queries"] if q.startswith(rebuilt)]
    # No writer trigger: the log's rows are written once (no column of v1's chain, no UPDATE).
    assert (
        scalar(
            pg,
            db,
            "SELECT count(*) FROM pg_attribute WHERE attrelid = 'audit.audit_log'::regclass "
            "AND attname IN ('chain_seq', 'row_hash')",
        )
        == "0"
    )
    assert (
        scalar(
            pg,
            db,
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'audit.audit_log'::regclass "
            "AND tgname <> 'pgtrail_insert_only' AND tgname <> 'pgtrail_skip_applied'",
        )
        == "0"
    )
    # The rows already there are sealed by the first seal, in (txid, id) order.
    verified = chain_verify(pg, db)
    assert verified["ok"] is True and verified["sealed"] == log_count(pg, db) == verified["checked"]
    assert scalar(
        pg, db, "SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relid = 'audit.audit_log'::regclass"
    ) in ("0", "")
    assert scalar(pg, db, "SELECT string_agg(version::text, ',' ORDER BY version) FROM audit.schema_version") == "1,3"
    off = pg.module("audit_trail", dict(database=db, tables=["notes"]))
    assert off["failed"] and "the chain cannot be switched off, set hash_chain: true" in off["msg"]


def test_eight_writers_for_thirty_seconds_leave_one_chain_sealed_once(pg, objects):
    """Eight writers and the sealer at once (as the timer runs it, every second)."""
    db = objects.database("pgt_chain_busy")
    pg.psql(
        "CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);"
        "INSERT INTO counters SELECT g FROM generate_series(1, 100) AS g",
        db=db,
    )
    succeeded(pg.module("audit_trail", dict(database=db, tables=["counters"], hash_chain=True)))
    script = "/tmp/%s.sql" % uuid.uuid4().hex
    pg.sh(
        "cat > %s <<'EOF'\n"
        "\\set id random(1, 100)\n"
        "BEGIN ISOLATION LEVEL READ COMMITTED;\n"
        "SELECT set_config('pgtrail.actor_id', 'client-' || :client_id, true);\n"
        "UPDATE counters SET n = n + 1 WHERE id = :id;\n"
        "END;\n"
        "EOF\n" % script
    )
    sealer = "while true; do psql -XqAt -d %s -c 'SELECT audit.seal()' >/dev/null; sleep 1; done" % db
    try:
        pg.sh("runuser -u postgres -- sh -c %s >/dev/null 2>&1 & echo $! > %s.sealer" % (shlex.quote(sealer), script))
        run = pg.sh("runuser -u postgres -- pgbench -n -c 8 -j 2 -T 20 -f %s %s 2>&1" % (script, db))
    finally:
        pg.sh("kill $(cat %s.sealer) 2>/dev/null; rm -f %s %s.sealer" % (script, script, script), check=False)
    processed = int(re.search(r"number of transactions actually processed: (\d+)", run.stdout).group(1))
    failed = re.search(r"number of failed transactions: (\d+)", run.stdout)
    assert processed > 100 and (failed is None or failed.group(1) == "0"), run.stdout
    assert "aborted" not in run.stdout and "deadlock" not in run.stdout, run.stdout
    assert int(scalar(pg, db, "SELECT count(*) FROM audit.audit_log WHERE kind = 'row'")) == processed
    result = chain_verify(pg, db)
    assert result["ok"] is True, result["reason"]
    assert result["unsealed"] == 0 and result["checked"] == log_count(pg, db) == result["head"]["size"]
    assert int(scalar(pg, db, "SELECT count(*) FROM audit.chain_block")) > 3


def test_retention_moves_the_start_of_the_chain_and_what_is_kept_still_extends_the_checkpoint(pg, objects):
    db = objects.database("pgt_chain_retention")
    pg.psql("CREATE TABLE sales (id int PRIMARY KEY)", db=db)
    args = dict(database=db, tables=["sales"], partition="monthly", retention_months=2, hash_chain=True)
    succeeded(pg.module("audit_trail", args))
    # Rows of an old month (a run that came late), sealed between the current month's rows.
    pg.psql("INSERT INTO sales VALUES (1); SELECT audit.seal()", db=db)
    pg.psql(
        "CREATE TABLE audit.audit_log_202001 PARTITION OF audit.audit_log "
        "FOR VALUES FROM ('2020-01-01 00:00:00+00') TO ('2020-02-01 00:00:00+00');"
        "INSERT INTO audit.audit_log (kind, table_name, action, changed_at) "
        "SELECT 'event', 'old', 'ancient', '2020-01-05+00' FROM generate_series(1, 3)",
        db=db,
    )
    pg.psql("INSERT INTO sales SELECT generate_series(2, 5)", db=db)
    signed = chain_verify(pg, db)["head"]
    old_block = int(scalar(pg, db, "SELECT max(block) FROM audit.chain_block"))
    trimmed = succeeded(pg.module("audit_trail", args))
    assert 'DROP TABLE "audit"."audit_log_202001"' in trimmed["executed_queries"]
    assert int(scalar(pg, db, "SELECT first_block FROM audit.chain_head")) == old_block + 1
    after = chain_verify(pg, db, checkpoint=dict(size=signed["size"], root=signed["root"]))
    assert after["ok"] is True and after["extends"] is True and after["unsealed"] == 0, after["reason"]
    # What retention left of the dropped rows' block is not checked; what came after it is.
    assert after["checked"] == int(
        scalar(pg, db, "SELECT sum(last_pos - first_pos + 1) FROM audit.chain_block WHERE block > %d" % old_block)
    )
