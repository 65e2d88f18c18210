"""pgtrail.audit.audit_trail against real PostgreSQL: what each change writes to the log, who it
names, what the trail refuses, and that a second run changes nothing.

Every test makes its own database (and roles) with a unique name, dropped at the end of the
module, so the shared containers stay usable by the other tests of the session.
"""

import json

import pytest
from pgaudit_testlib import Objects, run_as, succeeded, unique

ROW_COLUMNS = (
    "kind, schema_name, table_name, action, old_data, new_data, "
    "{schema}.changed_fields(old_data, new_data) AS changed_fields, actor_id, login_role, "
    "effective_role, application_name, host(client_addr) AS client_addr, metadata"
)
# Rows written by the module's own DDL (CREATE TRIGGER ...) carry its application_name.
NOT_THE_MODULE = "application_name IS DISTINCT FROM 'pgtrail.audit'"


@pytest.fixture(scope="module")
def objects(pg):
    made = Objects(pg)
    yield made
    made.drop()


@pytest.fixture
def db(objects):
    return objects.database("pgt_trail")


def trail(pg, db, check_mode=False, diff=False, **args):
    return pg.module("audit_trail", dict(database=db, **args), check_mode=check_mode, diff=diff)


def log(pg, db, where=NOT_THE_MODULE, columns=ROW_COLUMNS, schema='"audit"'):
    """The log rows matching where, oldest first, as dicts."""
    out = pg.psql(
        "SELECT coalesce(json_agg(t), '[]') FROM (SELECT %s FROM %s.audit_log WHERE %s ORDER BY id) AS t"
        % (columns.replace("{schema}", schema), schema, where),
        db=db,
    )
    return json.loads(out)


def scalar(pg, db, query):
    return pg.psql(query, db=db)


def row(kind, table, action, old=None, new=None, changed=None, actor=None, login=None, **extra):
    expected = dict(
        kind=kind,
        schema_name="public",
        table_name=table,
        action=action,
        old_data=old,
        new_data=new,
        changed_fields=changed,
        actor_id=actor,
        login_role=login,
        effective_role=login,
        application_name="psql",
        client_addr="127.0.0.1",
        metadata=None,
    )
    expected.update(extra)
    return expected


def trail_triggers(pg, db):
    """relation:trigger:enabled of every trail trigger (clones included), sorted."""
    return pg.psql(
        "SELECT tgrelid::regclass || ':' || tgname || ':' || tgenabled::text FROM pg_trigger "
        "WHERE tgname LIKE 'pgtrail_audit_%' ORDER BY 1",
        db=db,
    ).split()


# --- what each action writes ---------------------------------------------------------------------


def test_each_action_writes_the_exact_row_with_the_actor_and_the_login(pg, objects, db):
    clerk = objects.role("pgt_clerk", login=True)
    pg.psql(
        "CREATE TABLE accounts (id int PRIMARY KEY, email text, password_hash text);"
        'ALTER TABLE accounts OWNER TO "%s"' % clerk,
        db=db,
    )
    result = succeeded(
        trail(pg, db, tables=[{"name": "accounts", "exclude_columns": ["password_hash"]}], app_roles=[clerk])
    )
    assert result["changed"] is True
    assert result["added"] == ["public.accounts"]
    assert result["tables"] == [{"name": "public.accounts", "mode": "row", "exclude_columns": ["password_hash"]}]
    assert result["schema_version"] == 1

    out = run_as(
        pg,
        clerk,
        db,
        """
        BEGIN;
        SELECT set_config('pgtrail.actor_id', 'user-42', true);
        INSERT INTO accounts VALUES (1, 'a@example.org', 'hash-1');
        UPDATE accounts SET email = 'b@example.org', password_hash = 'hash-2' WHERE id = 1;
        DELETE FROM accounts WHERE id = 1;
        TRUNCATE accounts;
        SELECT audit.log_event('LOGIN', 'auth', false, '{"reason": "bad password"}', '203.0.113.9', 'Mozilla/5.0',
                               'user-7');
        ALTER TABLE accounts ADD COLUMN note text;
        COMMIT;
        """,
    )
    event_id = int(out.split()[-1])
    rows = log(pg, db)
    ddl = rows[-1]["metadata"]
    assert rows == [
        row("row", "accounts", "INSERT", new={"id": 1, "email": "a@example.org"}, actor="user-42", login=clerk),
        row(
            "row",
            "accounts",
            "UPDATE",
            old={"id": 1, "email": "a@example.org"},
            new={"id": 1, "email": "b@example.org"},
            changed=["email"],
            actor="user-42",
            login=clerk,
        ),
        row("row", "accounts", "DELETE", old={"id": 1, "email": "b@example.org"}, actor="user-42", login=clerk),
        row("truncate", "accounts", "TRUNCATE", actor="user-42", login=clerk),
        row(
            "event",
            "auth",
            "LOGIN",
            actor="user-7",
            login=clerk,
            schema_name=None,
            metadata={"reason": "bad password"},
        ),
        row("ddl", "accounts", "ALTER TABLE", actor="user-42", login=clerk, metadata=ddl),
    ]
    assert ddl["object_type"] == "table"
    assert ddl["object_identity"] == "public.accounts"
    assert "ADD COLUMN note text" in ddl["statement"]
    # The event's own columns, and its id as log_event returned it.
    assert log(pg, db, "kind = 'event'", "id, resource, success, host(client_ip) AS client_ip, user_agent") == [
        dict(id=event_id, resource="auth", success=False, client_ip="203.0.113.9", user_agent="Mozilla/5.0")
    ]
    # One transaction: one txid and one changed_at; statement and clock times follow it.
    assert (
        scalar(
            pg,
            db,
            "SELECT count(DISTINCT txid) || ',' || count(DISTINCT changed_at) || ',' || "
            "bool_and(statement_at >= changed_at AND wall_at >= statement_at) FROM audit.audit_log "
            "WHERE %s" % NOT_THE_MODULE,
        )
        == "1,1,true"
    )
    # The seed's own query still works on the log.
    assert (
        scalar(
            pg,
            db,
            "SELECT count(*) FROM audit.audit_log WHERE table_name = 'accounts' AND action = 'UPDATE' "
            "AND actor_id IS NOT NULL AND changed_at IS NOT NULL AND old_data IS NOT NULL AND new_data IS NOT NULL",
        )
        == "1"
    )


def test_excluded_columns_never_reach_the_log_and_an_update_of_only_them_writes_nothing(pg, db):
    pg.psql(
        "CREATE TABLE users (id int PRIMARY KEY, name text, password_hash text, api_key text);"
        "INSERT INTO users VALUES (1, 'ann', 'secret-hash-0', 'secret-key-0')",
        db=db,
    )
    succeeded(
        trail(
            pg,
            db,
            tables=[{"name": "users", "exclude_columns": ["password_hash"]}],
            exclude_columns={"public.users": ["api_key"]},
        )
    )
    pg.psql(
        "UPDATE users SET password_hash = 'secret-hash-1';"
        "UPDATE users SET password_hash = 'secret-hash-2', api_key = 'secret-key-2';"
        "UPDATE users SET name = name;"
        "UPDATE users SET name = 'bob', password_hash = 'secret-hash-3';"
        "INSERT INTO users VALUES (2, 'cy', 'secret-hash-4', 'secret-key-4');"
        "DELETE FROM users WHERE id = 1",
        db=db,
    )
    assert log(
        pg, db, columns="action, old_data, new_data, {schema}.changed_fields(old_data, new_data) AS changed_fields"
    ) == [
        dict(
            action="UPDATE",
            old_data={"id": 1, "name": "ann"},
            new_data={"id": 1, "name": "bob"},
            changed_fields=["name"],
        ),
        dict(action="INSERT", old_data=None, new_data={"id": 2, "name": "cy"}, changed_fields=None),
        dict(action="DELETE", old_data={"id": 1, "name": "bob"}, new_data=None, changed_fields=None),
    ]
    assert scalar(pg, db, "SELECT count(*) FROM audit.audit_log WHERE audit_log::text LIKE '%secret-%'") == "0"


@pytest.mark.parametrize("mode", ["row", "statement"])
def test_replica_mode_still_audits_rows_truncate_and_ddl_and_marks_each_row_change(pg, db, mode):
    pg.psql("CREATE TABLE ledger (id int PRIMARY KEY, amount int)", db=db)
    succeeded(trail(pg, db, tables=[dict(name="ledger", mode=mode)]))
    row_triggers = (
        ["pgtrail_audit_row"] if mode == "row" else ["pgtrail_audit_stmt_%s" % e for e in ("del", "ins", "upd")]
    )
    assert trail_triggers(pg, db) == ["ledger:%s:A" % t for t in row_triggers + ["pgtrail_audit_truncate"]]
    assert scalar(
        pg, db, "SELECT string_agg(evtname || ':' || evtenabled::text, ',' ORDER BY evtname) FROM pg_event_trigger"
    ) == ("pgtrail_audit_ddl:A,pgtrail_audit_drop:A")
    pg.psql(
        "SET session_replication_role = replica;"
        "INSERT INTO ledger VALUES (1, 10), (2, 20);"
        "UPDATE ledger SET amount = 11 WHERE id = 1;"
        "DELETE FROM ledger WHERE id = 2;"
        "TRUNCATE ledger;"
        "ALTER TABLE ledger ADD COLUMN memo text;",
        db=db,
    )
    # Each row change of a session in replica mode that is no replication worker: marked, with
    # no subscription.
    assert log(pg, db, columns="kind, action, metadata->>'replication_role' AS role") == [
        dict(kind="row", action="INSERT", role="replica"),
        dict(kind="row", action="INSERT", role="replica"),
        dict(kind="row", action="UPDATE", role="replica"),
        dict(kind="row", action="DELETE", role="replica"),
        dict(kind="truncate", action="TRUNCATE", role=None),
        dict(kind="ddl", action="ALTER TABLE", role=None),
    ]
    marks = log(pg, db, "kind = 'row'", "metadata")
    assert marks == [dict(metadata={"replication_role": "replica", "subscription": None})] * 4
    # Outside replica mode, no mark.
    pg.psql("INSERT INTO ledger VALUES (3, 30); UPDATE ledger SET amount = 31; DELETE FROM ledger", db=db)
    assert log(pg, db, "kind = 'row'", "action, metadata")[4:] == [
        dict(action=action, metadata=None) for action in ("INSERT", "UPDATE", "DELETE")
    ]


def test_a_partitioned_table_logs_under_its_parent_whichever_partition_is_written(pg, db):
    pg.psql(
        "CREATE TABLE orders (id int, region text, amount int, PRIMARY KEY (id, region)) PARTITION BY LIST (region);"
        "CREATE TABLE orders_eu PARTITION OF orders FOR VALUES IN ('eu');"
        "CREATE TABLE orders_us PARTITION OF orders FOR VALUES IN ('us') PARTITION BY RANGE (id);"
        "CREATE TABLE orders_us_low PARTITION OF orders_us FOR VALUES FROM (0) TO (100);",
        db=db,
    )
    succeeded(trail(pg, db, tables=["orders"]))
    pg.psql(
        "INSERT INTO orders VALUES (1, 'eu', 5), (2, 'us', 7);"
        "UPDATE orders_us_low SET amount = 8;"
        "DELETE FROM orders_eu;"
        "TRUNCATE orders_us_low;"
        "ALTER TABLE orders_eu ALTER COLUMN amount SET DEFAULT 0;",
        db=db,
    )
    rows = log(pg, db, columns="kind, table_name, action, new_data, metadata->>'relation' AS relation")
    assert rows == [
        dict(
            kind="row",
            table_name="orders",
            action="INSERT",
            new_data={"id": 1, "amount": 5, "region": "eu"},
            relation=None,
        ),
        dict(
            kind="row",
            table_name="orders",
            action="INSERT",
            new_data={"id": 2, "amount": 7, "region": "us"},
            relation=None,
        ),
        dict(
            kind="row",
            table_name="orders",
            action="UPDATE",
            new_data={"id": 2, "amount": 8, "region": "us"},
            relation=None,
        ),
        dict(kind="row", table_name="orders", action="DELETE", new_data=None, relation=None),
        dict(kind="truncate", table_name="orders", action="TRUNCATE", new_data=None, relation="public.orders_us_low"),
        dict(kind="ddl", table_name="orders", action="ALTER TABLE", new_data=None, relation=None),
    ]
    # A partition added later is covered at once (row triggers are cloned); the next run adds its
    # TRUNCATE trigger and reports the table as updated.
    pg.psql(
        "CREATE TABLE orders_apac PARTITION OF orders FOR VALUES IN ('apac'); INSERT INTO orders VALUES (3, 'apac', 1)",
        db=db,
    )
    assert log(pg, db, "kind = 'row' AND new_data->>'region' = 'apac'", "table_name") == [dict(table_name="orders")]
    again = succeeded(trail(pg, db, tables=["orders"]))
    assert again["updated"] == ["public.orders"]
    assert "orders_apac:pgtrail_audit_truncate:A" in trail_triggers(pg, db)
    assert succeeded(trail(pg, db, tables=["orders"]))["changed"] is False


def test_statement_mode_pairs_rows_by_a_composite_primary_key_too(pg, db):
    pg.psql("CREATE TABLE stock (site text, sku int, qty int, PRIMARY KEY (site, sku));", db=db)
    succeeded(trail(pg, db, tables=[{"name": "stock", "mode": "statement"}]))
    pg.psql(
        "INSERT INTO stock SELECT s, g, 0 FROM unnest(ARRAY['a', 'b']) AS s, generate_series(1, 50) AS g;"
        "UPDATE stock SET qty = sku WHERE sku <= 10;"
        "UPDATE stock SET sku = 99 WHERE site = 'a' AND sku = 50;",
        db=db,
    )
    pairs = log(pg, db, "action = 'UPDATE' AND old_data IS NOT NULL AND new_data IS NOT NULL", "old_data, new_data")
    assert len(pairs) == 20
    assert all(
        p["old_data"]["site"] == p["new_data"]["site"] and p["old_data"]["sku"] == p["new_data"]["sku"] for p in pairs
    )
    assert {"old_data": {"site": "b", "sku": 7, "qty": 0}, "new_data": {"site": "b", "sku": 7, "qty": 7}} in pairs
    # A changed key: an old and a new half.
    halves = log(pg, db, "action = 'UPDATE' AND (old_data IS NULL OR new_data IS NULL)", "old_data, new_data")
    assert sorted(halves, key=json.dumps) == [
        dict(old_data=None, new_data={"site": "a", "sku": 99, "qty": 0}),
        dict(old_data={"site": "a", "sku": 50, "qty": 0}, new_data=None),
    ]


def test_statement_mode_writes_one_row_per_changed_row_from_transition_tables(pg, db):
    pg.psql(
        "CREATE TABLE readings (id int PRIMARY KEY, value int, raw bytea);"
        "CREATE TABLE events_nokey (at int, what text);",
        db=db,
    )
    result = succeeded(
        trail(pg, db, tables=[{"name": "readings", "mode": "statement", "exclude_columns": ["raw"]}, "events_nokey"])
    )
    assert result["tables"][1] == {"name": "public.readings", "mode": "statement", "exclude_columns": ["raw"]}
    pg.psql(
        "INSERT INTO readings SELECT g, g, '\\x00' FROM generate_series(1, 1000) AS g;"
        "UPDATE readings SET value = value + 1 WHERE id <= 500;"
        "UPDATE readings SET raw = '\\x01';"
        "UPDATE readings SET id = 2000 WHERE id = 1000;"
        "DELETE FROM readings WHERE id > 900;"
        "INSERT INTO events_nokey VALUES (1, 'a'), (1, 'a');"
        "UPDATE events_nokey SET what = 'b';",
        db=db,
    )
    counts = json.loads(
        scalar(
            pg,
            db,
            "SELECT json_agg(t) FROM (SELECT table_name, action, count(*) AS n, count(DISTINCT txid) AS txids "
            "FROM audit.audit_log WHERE kind = 'row' GROUP BY 1, 2 ORDER BY 1, 2) AS t",
        )
    )
    assert counts == [
        dict(table_name="events_nokey", action="INSERT", n=2, txids=1),
        dict(table_name="events_nokey", action="UPDATE", n=2, txids=1),
        dict(table_name="readings", action="DELETE", n=100, txids=1),
        dict(table_name="readings", action="INSERT", n=1000, txids=1),
        # 500 paired updates, then the changed key as an old and a new half; raw is excluded
        dict(table_name="readings", action="UPDATE", n=502, txids=2),
    ]
    assert log(
        pg,
        db,
        "action = 'UPDATE' AND old_data->>'id' = '7'",
        "old_data, new_data, {schema}.changed_fields(old_data, new_data) AS changed_fields",
    ) == [dict(old_data={"id": 7, "value": 7}, new_data={"id": 7, "value": 8}, changed_fields=["value"])]
    assert log(
        pg, db, "action = 'UPDATE' AND (old_data->>'id' = '1000' OR new_data->>'id' = '2000')", "old_data, new_data"
    ) == [
        dict(old_data={"id": 1000, "value": 1000}, new_data=None),
        dict(old_data=None, new_data={"id": 2000, "value": 1000}),
    ]


def test_application_events_are_stored_beside_row_changes_and_only_app_roles_may_write_them(pg, objects, db):
    app = objects.role("pgt_app", login=True)
    other = objects.role("pgt_other", login=True)
    pg.psql(
        'CREATE TABLE carts (id int PRIMARY KEY, items int); GRANT ALL ON carts TO "%s", "%s"' % (app, other), db=db
    )
    succeeded(trail(pg, db, tables=["carts"], app_roles=[app]))
    run_as(
        pg,
        app,
        db,
        "BEGIN; SELECT set_config('pgtrail.actor_id', 'u-1', true);"
        "INSERT INTO carts VALUES (1, 3);"
        "SELECT audit.log_event('CHECKOUT', 'carts', metadata => '{\"total\": 42}');"
        "COMMIT;",
    )
    assert log(pg, db, columns="kind, table_name, action, actor_id, success, metadata") == [
        dict(kind="row", table_name="carts", action="INSERT", actor_id="u-1", success=None, metadata=None),
        dict(kind="event", table_name="carts", action="CHECKOUT", actor_id="u-1", success=True, metadata={"total": 42}),
    ]
    with pytest.raises(AssertionError, match="permission denied for (function log_event|schema audit)"):
        run_as(pg, other, db, "SELECT audit.log_event('LOGIN', 'auth')")
    # Nobody but the owner reads or writes the log directly, app roles included.
    with pytest.raises(AssertionError, match="permission denied for (table audit_log|schema audit)"):
        run_as(pg, app, db, "INSERT INTO audit.audit_log (kind, table_name, action) VALUES ('event', 'x', 'FORGED')")
    with pytest.raises(AssertionError, match="log_event needs an action and a resource"):
        run_as(pg, app, db, "SELECT audit.log_event(NULL, 'auth')")
    # app_roles is exact: a role left out loses EXECUTE.
    result = succeeded(trail(pg, db, tables=["carts"], app_roles=[other]))
    assert any('REVOKE ALL ON FUNCTION "audit"."log_event"' in q and app in q for q in result["executed_queries"])
    with pytest.raises(AssertionError, match="permission denied for function log_event"):
        run_as(pg, app, db, "SELECT audit.log_event('LOGIN', 'auth')")
    run_as(pg, other, db, "SELECT audit.log_event('LOGIN', 'auth')")


def test_ddl_that_weakens_the_trail_is_refused_to_the_owner_recorded_for_a_superuser_and_repaired(pg, objects, db):
    owner = objects.role("pgt_owner", login=True)
    pg.psql(
        "CREATE TABLE notes (id int PRIMARY KEY, body text); CREATE TABLE drafts (id int);"
        'ALTER TABLE notes OWNER TO "%s"; ALTER TABLE drafts OWNER TO "%s"' % (owner, owner),
        db=db,
    )
    succeeded(trail(pg, db, tables=["notes", "drafts"]))
    # The table's owner cannot silence its audit triggers (the statement is rolled back)...
    with pytest.raises(AssertionError, match="only a superuser may weaken the audit trail"):
        run_as(pg, owner, db, "ALTER TABLE notes DISABLE TRIGGER pgtrail_audit_row")
    with pytest.raises(AssertionError, match="drops the audit trigger pgtrail_audit_truncate on public.notes"):
        run_as(pg, owner, db, "DROP TRIGGER pgtrail_audit_truncate ON notes")
    run_as(pg, owner, db, "INSERT INTO notes VALUES (1, 'audited')")
    # ...but may drop its table; a superuser may do both. Each is recorded.
    run_as(pg, owner, db, "DROP TABLE drafts")
    pg.psql("ALTER TABLE notes DISABLE TRIGGER pgtrail_audit_row", db=db)
    pg.psql("DROP TRIGGER pgtrail_audit_truncate ON notes", db=db)
    pg.psql("INSERT INTO notes VALUES (2, 'unaudited')", db=db)
    rows = log(
        pg,
        db,
        columns="kind, table_name, action, login_role, metadata->>'object_identity' AS object, "
        "metadata->>'statement' AS statement",
    )
    assert rows == [
        dict(kind="row", table_name="notes", action="INSERT", login_role=owner, object=None, statement=None),
        dict(
            kind="ddl",
            table_name="drafts",
            action="DROP TABLE",
            login_role=owner,
            object="public.drafts",
            statement="DROP TABLE drafts",
        ),
        dict(
            kind="ddl",
            table_name="notes",
            action="ALTER TABLE",
            login_role="postgres",
            object="public.notes",
            statement="ALTER TABLE notes DISABLE TRIGGER pgtrail_audit_row",
        ),
        dict(
            kind="ddl",
            table_name="notes",
            action="DROP TRIGGER",
            login_role="postgres",
            object="pgtrail_audit_truncate on public.notes",
            statement="DROP TRIGGER pgtrail_audit_truncate ON notes",
        ),
    ]
    # The dropped table left the registry; listing it again is an error naming it.
    failed = trail(pg, db, tables=["notes", "drafts"])
    assert failed["failed"] and "table public.drafts does not exist" in failed["msg"]
    repaired = succeeded(trail(pg, db, tables=["notes"]))
    assert repaired["updated"] == ["public.notes"]
    assert repaired["removed"] == []
    assert trail_triggers(pg, db) == ["notes:pgtrail_audit_row:A", "notes:pgtrail_audit_truncate:A"]
    assert succeeded(trail(pg, db, tables=["notes"]))["changed"] is False


# --- the actor -------------------------------------------------------------------------------------


def test_require_actor_refuses_a_write_without_one_naming_the_setting(pg, objects, db):
    clerk = objects.role("pgt_clerk", login=True)
    pg.psql('CREATE TABLE payments (id int PRIMARY KEY, amount int); GRANT ALL ON payments TO "%s"' % clerk, db=db)
    succeeded(trail(pg, db, tables=["payments"], actor_setting="app.user_id", require_actor=True, app_roles=[clerk]))
    with pytest.raises(AssertionError) as refused:
        run_as(pg, clerk, db, "INSERT INTO payments VALUES (1, 5)")
    assert "pgtrail.audit: no actor for a write to public.payments" in str(refused.value)
    assert "set_config('app.user_id', <actor id>, true)" in str(refused.value)
    assert scalar(pg, db, "SELECT count(*) FROM payments") == "0"
    # A session-level value set in an earlier transaction is gone with it when set as intended.
    run_as(
        pg,
        clerk,
        db,
        "BEGIN; SELECT set_config('app.user_id', 'u-9', true); INSERT INTO payments VALUES (1, 5); COMMIT;"
        "SELECT audit.log_event('LOGIN', 'auth');",
    )
    assert log(pg, db, columns="kind, actor_id") == [
        dict(kind="row", actor_id="u-9"),
        dict(kind="event", actor_id=None),
    ]


def test_an_actor_expression_such_as_supabase_auth_uid_comes_first(pg, objects, db):
    clerk = objects.role("pgt_clerk", login=True)
    pg.psql(
        "CREATE SCHEMA auth;"
        "CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS "
        "$$ SELECT nullif(current_setting('request.jwt.claim.sub', true), '')::uuid $$;"
        "GRANT USAGE ON SCHEMA auth TO PUBLIC;"
        'CREATE TABLE profiles (id int PRIMARY KEY, bio text); GRANT ALL ON profiles TO "%s"' % clerk,
        db=db,
    )
    bad = trail(pg, db, tables=["profiles"], actor_expression="auth.no_such_function()")
    assert bad["failed"]
    assert "actor_expression 'auth.no_such_function()' does not run" in bad["msg"]
    assert scalar(pg, db, "SELECT count(*) FROM pg_namespace WHERE nspname = 'audit'") == "0"
    sneaky = trail(pg, db, tables=["profiles"], actor_expression="1); DROP TABLE profiles; SELECT (1")
    assert sneaky["failed"] and "does not run" in sneaky["msg"]
    assert scalar(pg, db, "SELECT count(*) FROM profiles") == "0"

    succeeded(trail(pg, db, tables=["profiles"], actor_expression="auth.uid()"))
    run_as(
        pg,
        clerk,
        db,
        "BEGIN; SELECT set_config('request.jwt.claim.sub', '6f1f7a3e-8a4c-4d2b-9a53-0c1f2e3d4b5a', true);"
        "SELECT set_config('pgtrail.actor_id', 'ignored', true);"
        "INSERT INTO profiles VALUES (1, 'hi'); COMMIT;"
        "BEGIN; SELECT set_config('pgtrail.actor_id', 'fallback', true); UPDATE profiles SET bio = 'yo'; COMMIT;",
    )
    assert log(pg, db, columns="action, actor_id") == [
        dict(action="INSERT", actor_id="6f1f7a3e-8a4c-4d2b-9a53-0c1f2e3d4b5a"),
        dict(action="UPDATE", actor_id="fallback"),
    ]


def test_set_role_is_recorded_beside_the_login(pg, objects, db):
    login = objects.role("pgt_login", login=True)
    worker = objects.role("pgt_worker")
    pg.psql(
        'GRANT "%s" TO "%s"; CREATE TABLE jobs (id int PRIMARY KEY); GRANT ALL ON jobs TO "%s"'
        % (worker, login, worker),
        db=db,
    )
    succeeded(trail(pg, db, tables=["jobs"]))
    run_as(pg, login, db, 'SET ROLE "%s"; INSERT INTO jobs VALUES (1)' % worker)
    assert log(pg, db, columns="login_role, effective_role") == [dict(login_role=login, effective_role=worker)]


# --- names -------------------------------------------------------------------------------------------


def test_mixed_case_quoted_unicode_and_injection_shaped_names_are_just_names(pg, db):
    pg.psql(
        'CREATE SCHEMA "Sales Ledger";'
        'CREATE TABLE "Sales Ledger"."Überweisungen ✓" (id int PRIMARY KEY, "Betrag €" int, "Pass ""Wort""" text);'
        'CREATE TABLE public."x\'); DROP TABLE public.victims; --" (id int PRIMARY KEY, "a\'b" text);'
        "CREATE TABLE public.victims (id int);",
        db=db,
    )
    trail_schema = 'Audit "Trail" ✓'
    tables = [
        {"name": '"Sales Ledger"."Überweisungen ✓"', "exclude_columns": ['"Pass ""Wort"""']},
        'public."x\'); DROP TABLE public.victims; --"',
    ]
    result = succeeded(trail(pg, db, schema=trail_schema, tables=tables, actor_setting="my_app.Actor"))
    assert result["tables"] == [
        {"name": '"Sales Ledger"."Überweisungen ✓"', "mode": "row", "exclude_columns": ['"Pass ""Wort"""']},
        {"name": 'public."x\'); DROP TABLE public.victims; --"', "mode": "row", "exclude_columns": []},
    ]
    pg.psql(
        "BEGIN; SELECT set_config('my_app.Actor', 'o''hara', true);"
        'INSERT INTO "Sales Ledger"."Überweisungen ✓" VALUES (1, 100, \'geheim\');'
        "INSERT INTO public.\"x'); DROP TABLE public.victims; --\" VALUES (1, 'q''uote');"
        "COMMIT;",
        db=db,
    )
    rows = log(pg, db, schema='"Audit ""Trail"" ✓"', columns="schema_name, table_name, new_data, actor_id")
    assert rows == [
        dict(
            schema_name="Sales Ledger",
            table_name="Überweisungen ✓",
            new_data={"id": 1, "Betrag €": 100},
            actor_id="o'hara",
        ),
        dict(
            schema_name="public",
            table_name="x'); DROP TABLE public.victims; --",
            new_data={"id": 1, "a'b": "q'uote"},
            actor_id="o'hara",
        ),
    ]
    assert scalar(pg, db, "SELECT to_regclass('public.victims') IS NOT NULL") == "t"
    assert (
        succeeded(trail(pg, db, schema=trail_schema, tables=tables, actor_setting="my_app.Actor"))["changed"] is False
    )


def test_bad_input_fails_naming_every_problem_and_changes_nothing(pg, objects, db):
    pg.psql(
        "CREATE TABLE accounts (id int PRIMARY KEY); CREATE TABLE loose (a int); CREATE VIEW v AS SELECT 1 AS x", db=db
    )
    result = trail(
        pg,
        db,
        tables=[
            "accounts",
            'public."no""such"',
            'public."x\'); DROP TABLE accounts; --"',
            "nosuchschema.t",
            "v",
            {"name": "loose", "mode": "statement"},
            {"name": "accounts", "mode": "row"},
        ],
        schemas=[{"name": "ghost"}],
        exclude_columns={"accounts": ["nope"], "public.unlisted": ["x"]},
        app_roles=["pgt_nobody_%s" % unique("r")],
    )
    assert result["failed"] and result["changed"] is False
    problems = result["problems"]
    assert "tables[6] (accounts): table public.accounts is listed twice" in problems
    # The first pass stops at the declaration; fix it and the catalog checks name the rest.
    assert len(problems) == 1
    result = trail(
        pg,
        db,
        tables=[
            "accounts",
            'public."no""such"',
            'public."x\'); DROP TABLE accounts; --"',
            "nosuchschema.t",
            "v",
            {"name": "loose", "mode": "statement"},
        ],
        schemas=[{"name": "ghost"}],
        exclude_columns={"accounts": ["nope"], "public.unlisted": ["x"]},
        app_roles=["pgt_nobody"],
    )
    assert result["failed"]
    assert sorted(result["problems"]) == sorted(
        [
            "schema ghost does not exist",
            "exclude_columns names table public.unlisted, which is not audited (list it in tables)",
            "column nope does not exist in table public.accounts",
            "table nosuchschema.t does not exist",
            "table public.loose has no primary key: statement mode pairs old and new rows by it; use mode row",
            'table public."no""such" does not exist',
            "public.v is not a table (relkind 'v'); only tables and partitioned tables can be audited",
            'table public."x\'); DROP TABLE accounts; --" does not exist',
            "role pgt_nobody does not exist (app_roles)",
        ]
    )
    assert result["msg"].startswith("Nothing was changed in database %s: 9 problem(s): " % db)
    assert result["executed_queries"] == []
    assert scalar(pg, db, "SELECT count(*) FROM pg_namespace WHERE nspname = 'audit'") == "0"
    assert scalar(pg, db, "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal") == "0"
    assert scalar(pg, db, "SELECT count(*) FROM pg_event_trigger") == "0"
    assert trail(pg, db, actor_setting="actor")["msg"].endswith(
        "actor_setting 'actor' is not a custom setting name (two or more identifiers joined by dots, like "
        "pgtrail.actor_id)"
    )


# --- convergence ---------------------------------------------------------------------------------------


def test_ten_tables_converge_rerun_with_nothing_to_do_and_a_removed_table_keeps_its_rows(pg, db):
    pg.psql(
        "".join(
            "CREATE TABLE t%02d (id int PRIMARY KEY, v int); INSERT INTO t%02d VALUES (1, 1);" % (i, i)
            for i in range(10)
        )
        + "CREATE TABLE tmp_scratch (id int);",
        db=db,
    )
    by_schema = dict(schemas=[{"name": "public", "exclude": ["tmp_*"]}])
    first = succeeded(trail(pg, db, **by_schema))
    assert first["added"] == ["public.t%02d" % i for i in range(10)]
    again = succeeded(trail(pg, db, **by_schema))
    assert again["changed"] is False and again["executed_queries"] == []
    # The same tables listed one by one are the same trail.
    listed = ["t%02d" % i for i in range(10)]
    assert succeeded(trail(pg, db, tables=listed))["changed"] is False

    pg.psql("UPDATE t03 SET v = 2; UPDATE t04 SET v = 2", db=db)
    dropped = succeeded(trail(pg, db, tables=[t for t in listed if t != "t03"]))
    assert dropped["removed"] == ["public.t03"]
    assert dropped["added"] == [] and dropped["updated"] == []
    assert not [t for t in trail_triggers(pg, db) if t.startswith("t03:")]
    assert scalar(pg, db, "SELECT count(*) FROM audit.audited_tables WHERE table_name = 't03'") == "0"
    pg.psql("UPDATE t03 SET v = 3; UPDATE t04 SET v = 3", db=db)
    assert log(pg, db, "kind = 'row'", "table_name, new_data->>'v' AS v") == [
        dict(table_name="t03", v="2"),
        dict(table_name="t04", v="2"),
        dict(table_name="t04", v="3"),
    ]
    assert succeeded(trail(pg, db, tables=[t for t in listed if t != "t03"]))["changed"] is False


def test_check_mode_reports_the_same_statements_and_changes_nothing(pg, db):
    pg.psql("CREATE TABLE a (id int PRIMARY KEY, secret text); CREATE TABLE b (id int PRIMARY KEY)", db=db)
    args = dict(tables=["a", "b"], exclude_columns={"a": ["secret"]})
    checked = succeeded(trail(pg, db, check_mode=True, diff=True, **args))
    assert checked["changed"] is True
    assert scalar(pg, db, "SELECT count(*) FROM pg_namespace WHERE nspname = 'audit'") == "0"
    assert checked["diff"]["before"]["tables"] == {}
    assert checked["diff"]["after"]["tables"] == {
        "public.a": {"mode": "row", "exclude_columns": ["secret"]},
        "public.b": {"mode": "row", "exclude_columns": []},
    }
    applied = succeeded(trail(pg, db, **args))
    assert applied["executed_queries"] == checked["executed_queries"]

    changed = dict(tables=["a", {"name": "b", "mode": "statement"}])
    checked = succeeded(trail(pg, db, check_mode=True, diff=True, **changed))
    assert checked["updated"] == ["public.a", "public.b"]
    before, after = checked["diff"]["before"], checked["diff"]["after"]
    assert before["functions"] == after["functions"]
    assert before["triggers"] != after["triggers"]
    assert (
        "pgtrail_audit_row AFTER INSERT OR UPDATE OR DELETE ON public.a FOR EACH ROW EXECUTE FUNCTION "
        "log_row_change('public', 'a', 'secret') ENABLE ALWAYS" in before["triggers"]
    )
    assert (
        "pgtrail_audit_stmt_upd AFTER UPDATE ON public.b REFERENCING OLD TABLE AS pgtrail_old NEW TABLE AS "
        "pgtrail_new FOR EACH STATEMENT EXECUTE FUNCTION log_statement_change('public', 'b') ENABLE ALWAYS"
        in after["triggers"]
    )
    assert trail_triggers(pg, db) == [
        "a:pgtrail_audit_row:A",
        "a:pgtrail_audit_truncate:A",
        "b:pgtrail_audit_row:A",
        "b:pgtrail_audit_truncate:A",
    ]


def test_changed_options_replace_definitions_in_place_and_keep_the_log(pg, db):
    pg.psql("CREATE TABLE items (id int PRIMARY KEY, name text, cost int)", db=db)
    succeeded(trail(pg, db, tables=["items"]))
    pg.psql("INSERT INTO items VALUES (1, 'x', 1)", db=db)
    oids = "SELECT string_agg(oid::text, ',' ORDER BY oid) FROM %s"
    triggers_before = scalar(pg, db, oids % "pg_trigger WHERE tgname LIKE 'pgtrail%'")
    functions_before = scalar(pg, db, oids % "pg_proc WHERE pronamespace = 'audit'::regnamespace")

    result = succeeded(
        trail(pg, db, tables=[{"name": "items", "exclude_columns": ["cost"]}], actor_setting="shop.user")
    )
    assert result["updated"] == ["public.items"]
    queries = result["executed_queries"]
    assert [q.split("(")[0] for q in queries if q.startswith("CREATE OR REPLACE FUNCTION")] == [
        'CREATE OR REPLACE FUNCTION "audit"."current_actor"'
    ]
    assert not [q for q in queries if q.startswith(("DROP", "CREATE TRIGGER", "CREATE EVENT"))]
    assert [q for q in queries if "TRIGGER" in q] == [
        'CREATE OR REPLACE TRIGGER "pgtrail_audit_row" AFTER INSERT OR UPDATE OR DELETE ON "public"."items" '
        "FOR EACH ROW EXECUTE FUNCTION \"audit\".\"log_row_change\"('public', 'items', 'cost')",
        'ALTER TABLE "public"."items" ENABLE ALWAYS TRIGGER "pgtrail_audit_row"',
    ]
    assert scalar(pg, db, oids % "pg_trigger WHERE tgname LIKE 'pgtrail%'") == triggers_before
    assert scalar(pg, db, oids % "pg_proc WHERE pronamespace = 'audit'::regnamespace") == functions_before
    pg.psql("BEGIN; SELECT set_config('shop.user', 's-1', true); UPDATE items SET cost = 2, name = 'y'; COMMIT", db=db)
    assert log(pg, db, "kind = 'row'", "action, new_data, actor_id") == [
        dict(action="INSERT", new_data={"id": 1, "name": "x", "cost": 1}, actor_id=None),
        dict(action="UPDATE", new_data={"id": 1, "name": "y"}, actor_id="s-1"),
    ]
    assert (
        succeeded(trail(pg, db, tables=[{"name": "items", "exclude_columns": ["cost"]}], actor_setting="shop.user"))[
            "changed"
        ]
        is False
    )


def test_a_function_with_another_signature_is_recreated_while_the_ddl_trail_is_paused(pg, objects, db):
    app = objects.role("pgt_app")
    pg.psql("CREATE TABLE t (id int PRIMARY KEY)", db=db)
    succeeded(trail(pg, db, tables=["t"], app_roles=[app]))
    # An overload left by an older release: current_actor is called by the DDL event trigger's own
    # function, so dropping it with the event triggers on would fail.
    pg.psql(
        "CREATE FUNCTION audit.current_actor(legacy int) RETURNS text LANGUAGE sql AS 'SELECT NULL::text';"
        "CREATE FUNCTION audit.log_event(action text) RETURNS bigint LANGUAGE sql AS 'SELECT 0::bigint';",
        db=db,
    )
    result = succeeded(trail(pg, db, tables=["t"], app_roles=[app]))
    queries = result["executed_queries"]
    assert queries[:2] == [
        'ALTER EVENT TRIGGER "pgtrail_audit_ddl" DISABLE',
        'ALTER EVENT TRIGGER "pgtrail_audit_drop" DISABLE',
    ]
    assert queries[-2:] == [
        'ALTER EVENT TRIGGER "pgtrail_audit_ddl" ENABLE ALWAYS',
        'ALTER EVENT TRIGGER "pgtrail_audit_drop" ENABLE ALWAYS',
    ]
    assert scalar(pg, db, "SELECT count(*) FROM pg_proc WHERE proname IN ('current_actor', 'log_event')") == "2"
    assert (
        scalar(
            pg,
            db,
            "SELECT has_function_privilege('%s', 'audit.log_event(text, text, boolean, jsonb, inet, "
            "text, text)', 'EXECUTE')" % app,
        )
        == "t"
    )
    assert succeeded(trail(pg, db, tables=["t"], app_roles=[app]))["changed"] is False
    pg.psql("ALTER TABLE t ADD COLUMN v int", db=db)
    # The overloads were logged as DDL on the trail's own functions; DDL is logged again after the run.
    assert log(pg, db, columns="kind, schema_name, action, table_name") == [
        dict(kind="ddl", schema_name="audit", action="CREATE FUNCTION", table_name="audit.current_actor(integer)"),
        dict(kind="ddl", schema_name="audit", action="CREATE FUNCTION", table_name="audit.log_event(pg_catalog.text)"),
        dict(kind="ddl", schema_name="public", action="ALTER TABLE", table_name="t"),
    ]


def test_concurrent_writers_yield_exactly_one_log_row_per_change(pg, db):
    pg.psql(
        "CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);"
        "CREATE TABLE tallies (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);"
        "INSERT INTO counters SELECT g FROM generate_series(1, 20) AS g;"
        "INSERT INTO tallies SELECT g FROM generate_series(1, 20) AS g;",
        db=db,
    )
    succeeded(trail(pg, db, tables=["counters", {"name": "tallies", "mode": "statement"}]))
    script = "/tmp/%s.sql" % db
    pg.sh(
        "cat > %s <<'EOF'\n"
        "\\set id random(1, 20)\n"
        "BEGIN;\n"
        "SELECT set_config('pgtrail.actor_id', 'client-' || :client_id, true);\n"
        "UPDATE counters SET n = n + 1 WHERE id = :id;\n"
        "UPDATE tallies SET n = n + 1 WHERE id = :id;\n"
        "END;\n"
        "EOF\n" % script
    )
    pg.sh("runuser -u postgres -- pgbench -n -c 4 -j 2 -t 200 -f %s %s" % (script, db))
    pg.sh("rm -f %s" % script)
    for table in ("counters", "tallies"):
        assert scalar(pg, db, "SELECT sum(n) FROM %s" % table) == "800"
        assert (
            scalar(pg, db, "SELECT count(*) FROM audit.audit_log WHERE kind = 'row' AND table_name = '%s'" % table)
            == "800"
        )
        # Per row, the logged new values are exactly 1..n: no change lost, none logged twice.
        assert (
            scalar(
                pg,
                db,
                "SELECT count(*) FROM %s AS t WHERE ARRAY(SELECT (l.new_data->>'n')::int FROM audit.audit_log AS l "
                "WHERE l.table_name = '%s' AND (l.new_data->>'id')::int = t.id ORDER BY 1) "
                "<> ARRAY(SELECT generate_series(1, t.n))" % (table, table),
            )
            == "0"
        )
    assert scalar(pg, db, "SELECT count(DISTINCT actor_id) FROM audit.audit_log WHERE kind = 'row'") == "4"


# --- versions, removal, partitions -------------------------------------------------------------------


def test_the_schema_version_is_recorded_and_an_unknown_newer_one_is_refused(pg, db):
    succeeded(trail(pg, db))
    assert scalar(pg, db, "SELECT string_agg(version::text, ',') FROM audit.schema_version") == "1"
    pg.psql("INSERT INTO audit.schema_version (version, description) VALUES (4, 'from a newer release')", db=db)
    refused = trail(pg, db)
    assert refused["failed"]
    assert "the trail's schema version is 4, newer than this collection knows (3)" in refused["msg"]


def test_an_audit_log_this_module_did_not_make_is_left_alone(pg, db):
    pg.psql("CREATE SCHEMA audit; CREATE TABLE audit.audit_log (id bigserial PRIMARY KEY, table_name text)", db=db)
    refused = trail(pg, db)
    assert refused["failed"]
    assert "schema audit already holds audit_log without a recorded schema version" in refused["msg"]


def test_absent_removes_triggers_and_functions_and_keeps_the_log(pg, db):
    pg.psql("CREATE TABLE docs (id int PRIMARY KEY)", db=db)
    succeeded(trail(pg, db, tables=["docs"]))
    pg.psql("INSERT INTO docs VALUES (1)", db=db)
    removed = succeeded(trail(pg, db, state="absent", diff=True))
    assert removed["removed"] == ["public.docs"]
    assert removed["tables"] == []
    assert removed["diff"]["after"]["functions"] == {} and removed["diff"]["after"]["triggers"] == []
    assert trail_triggers(pg, db) == []
    assert scalar(pg, db, "SELECT count(*) FROM pg_event_trigger") == "0"
    assert scalar(pg, db, "SELECT count(*) FROM pg_proc WHERE pronamespace = 'audit'::regnamespace") == "0"
    pg.psql("INSERT INTO docs VALUES (2)", db=db)
    assert log(pg, db, "kind = 'row'", "new_data") == [dict(new_data={"id": 1})]
    assert succeeded(trail(pg, db, state="absent"))["changed"] is False
    back = succeeded(trail(pg, db, tables=["docs"]))
    assert back["added"] == ["public.docs"]
    assert not [q for q in back["executed_queries"] if "CREATE TABLE" in q]


def test_a_monthly_log_keeps_its_partitions_ahead_and_retention_drops_old_months(pg, db):
    pg.psql("CREATE TABLE sales (id int PRIMARY KEY)", db=db)
    args = dict(tables=["sales"], partition="monthly", retention_months=2)
    first = succeeded(trail(pg, db, **args))
    today = scalar(pg, db, "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYYMM')")
    parts = (
        "SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_inherits AS i "
        "JOIN pg_class AS c ON c.oid = i.inhrelid WHERE i.inhparent = 'audit.audit_log'::regclass"
    )
    made = scalar(pg, db, parts).split(",")
    assert made[0] == "audit_log_%s" % today and len(made) == 5 and made[-1] == "audit_log_default"
    assert any("PARTITION BY RANGE (changed_at)" in q for q in first["executed_queries"])
    pg.psql("INSERT INTO sales VALUES (1)", db=db)
    assert (
        scalar(pg, db, "SELECT tableoid::regclass FROM audit.audit_log WHERE kind = 'row'")
        == "audit.audit_log_%s" % today
    )

    # A run that came late: rows of a past month waiting in the default partition, an old month
    # partition beyond retention, and rows older than retention in the default partition.
    pg.psql(
        "CREATE TABLE audit.audit_log_202001 PARTITION OF audit.audit_log "
        "FOR VALUES FROM ('2020-01-01 00:00:00+00') TO ('2020-02-01 00:00:00+00');"
        "INSERT INTO audit.audit_log (kind, table_name, action, changed_at) VALUES "
        "('event', 'old', 'ancient', '2020-01-05+00'), ('event', 'old', 'stale', '2019-06-01+00'), "
        "('event', 'old', 'recent', "
        "date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '1 day')",
        db=db,
    )
    result = succeeded(trail(pg, db, **args))
    last_month = scalar(pg, db, "SELECT to_char(now() AT TIME ZONE 'UTC' - interval '1 month', 'YYYYMM')")
    assert 'DROP TABLE "audit"."audit_log_202001"' in result["executed_queries"]
    assert log(pg, db, "table_name = 'old'", "action, tableoid::regclass::text AS part") == [
        dict(action="recent", part="audit.audit_log_%s" % last_month)
    ]
    assert "audit_log_202001" not in scalar(pg, db, parts)
    assert succeeded(trail(pg, db, **args))["changed"] is False
    # The partitioning of an existing log is not switched.
    switched = trail(pg, db, tables=["sales"])
    assert switched["failed"] and "changing the partitioning of an existing log is not supported" in switched["msg"]
