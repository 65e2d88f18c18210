"""The hash chain's pure parts: migration 2, the canonical text, the sealing trigger's plan
(sql_chain.py and the plans and statements that use it)."""

import re

from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail import plan, render, sql_chain, sql_functions

LOG_COLUMNS = (
    "id table_name action old_data new_data actor_id changed_at kind schema_name txid statement_at "
    "wall_at login_role effective_role application_name client_addr client_port resource success client_ip "
    "user_agent metadata"
).split()


def as_text(statement):
    return statement.as_string(None)


def chain_specs(**overrides):
    args = dict(
        schema="audit",
        actor_setting="pgtrail.actor_id",
        actor_expression=None,
        require_actor=False,
        context=None,
        hash_chain=True,
    )
    args.update(overrides)
    return {spec["name"]: spec for spec in render.function_specs(**args)}


def test_the_canonical_text_holds_the_position_and_every_column_of_the_log_in_table_order():
    migration = as_text(render.migration_statements(1, "audit", partitioned=False)[0])
    declared = re.findall(r"^    ([a-z_]+) [a-z]", migration, re.M)
    assert declared == LOG_COLUMNS
    canonical = sql_chain.CANONICAL
    assert canonical.startswith("pg_catalog.convert_to(ROW({seq}, l.id, l.table_name, ")
    assert re.findall(r"\bl\.([a-z_]+)", canonical) == LOG_COLUMNS


def test_times_are_utc_text_so_that_no_session_setting_changes_the_canonical_text():
    for column in ("changed_at", "statement_at", "wall_at"):
        assert (
            "pg_catalog.to_char(l.%s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')" % column
            in sql_chain.CANONICAL
        )
    # No timestamptz, float or bytea reaches the text unconverted; inet, jsonb and arrays print the same always.
    assert "::text" not in sql_chain.CANONICAL.replace(")::text, 'UTF8')", "")


def test_without_the_option_the_chain_functions_are_not_planned():
    plain = {spec["name"] for spec in render.function_specs("audit", "pgtrail.actor_id", None, False, None)}
    assert not plain & {"seal_chain", "seal_chain_at_commit", "verify_chain"}


def test_the_sealer_and_the_verifier_hash_the_same_text_and_pin_their_search_path():
    specs = chain_specs()
    seal, verify = specs["seal_chain"]["source"], specs["verify_chain"]["source"]
    body = sql_chain.CANONICAL.split("{seq}, ", 1)[1]
    assert body in seal and body in verify
    assert "head_seq + pg_catalog.row_number() OVER (ORDER BY l.id)" in seal
    assert "ROW(l.chain_seq, l.id" in verify
    # The sealer's lock is the head's row, which only the owner and superusers can lock: no
    # advisory key, which any role can take.
    assert 'FROM "audit"."chain_head" AS h FOR UPDATE SKIP LOCKED' in seal
    assert "advisory" not in seal
    assert "pg_catalog.current_setting('transaction_isolation') <> 'read committed'" in seal
    for name in ("seal_chain", "seal_chain_at_commit", "verify_chain"):
        assert specs[name]["definer"]
        create = as_text(render.create_function("audit", specs[name]))
        assert "SECURITY DEFINER SET search_path = pg_catalog, pg_temp" in create
    assert as_text(render.create_function("audit", specs["verify_chain"])).startswith(
        'CREATE OR REPLACE FUNCTION "audit"."verify_chain"(expected_seq bigint DEFAULT NULL::bigint, '
        "expected_hash text DEFAULT NULL::text) RETURNS TABLE(ok boolean, checked bigint, broken_id bigint, "
        "broken_seq bigint, expected text, found text, head_seq bigint, head_hash text, unsealed bigint, "
        "reason text) LANGUAGE plpgsql STABLE SECURITY DEFINER"
    )


def test_migration_two_adds_the_columns_indexes_and_a_one_row_head_in_place():
    plain = [as_text(s) for s in render.migration_statements(2, "audit", partitioned=False)]
    monthly = [as_text(s) for s in render.migration_statements(2, "audit", partitioned=True)]
    assert plain[0] == (
        'ALTER TABLE "audit"."audit_log" ADD COLUMN chain_seq bigint, ADD COLUMN prev_hash bytea, '
        "ADD COLUMN row_hash bytea"
    )
    partial = '"audit"."audit_log" (chain_seq) WHERE chain_seq IS NOT NULL'
    assert "CREATE UNIQUE INDEX audit_log_chain_seq ON " + partial in plain
    # A unique index on a partitioned table must hold the partition key: the verifier catches doubles there.
    assert "CREATE INDEX audit_log_chain_seq ON " + partial in monthly
    assert 'CREATE INDEX audit_log_unsealed ON "audit"."audit_log" (id) WHERE chain_seq IS NULL' in plain
    assert any(s.startswith('CREATE TABLE "audit"."chain_head"') for s in plain)
    zero = "pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex')"
    insert = 'INSERT INTO "audit"."chain_head" (seq, hash, first_seq, first_prev) VALUES (0, %s, 1, %s)'
    assert insert % (zero, zero) in plain
    assert 'REVOKE ALL ON TABLE "audit"."chain_head" FROM PUBLIC' in plain
    assert not [s for s in plain if "DROP" in s or "UPDATE" in s]


def seal_trigger(**overrides):
    row = dict(
        on_log=True,
        tgenabled="O",
        tgdeferrable=True,
        tginitdeferred=True,
        tgtype=plan.TG_ROW | plan.TG_INSERT,
        function_schema="audit",
        function_name="seal_chain_at_commit",
    )
    row.update(overrides)
    return row


def test_the_sealing_trigger_is_created_deferred_enabled_for_origin_sessions_and_then_seals_what_waits():
    assert plan.plan_chain_trigger([], "audit") == ["create", "enable", "seal"]
    statements = [as_text(s) for s in render.chain_trigger_statements("audit", ["create", "enable", "seal"])]
    assert statements == [
        'CREATE CONSTRAINT TRIGGER "pgtrail_chain_seal" AFTER INSERT ON "audit"."audit_log" DEFERRABLE INITIALLY '
        'DEFERRED FOR EACH ROW EXECUTE FUNCTION "audit"."seal_chain_at_commit"()',
        # Not ALWAYS: a logical replication worker cannot fire a deferred trigger.
        'ALTER TABLE "audit"."audit_log" ENABLE TRIGGER "pgtrail_chain_seal"',
        'SELECT "audit"."seal_chain"(wait => true) AS sealed',
    ]


def test_a_sealing_trigger_in_place_plans_nothing_and_a_changed_one_is_repaired():
    assert plan.plan_chain_trigger([seal_trigger(), seal_trigger(on_log=False)], "audit") == []
    for enabled in ("D", "A", "R"):
        assert plan.plan_chain_trigger([seal_trigger(), seal_trigger(on_log=False, tgenabled=enabled)], "audit") == [
            "enable",
            "seal",
        ]
    for changed in (
        dict(tginitdeferred=False),
        dict(tgtype=plan.TG_ROW | plan.TG_INSERT | plan.TG_UPDATE),
        dict(function_name="something_else"),
    ):
        assert plan.plan_chain_trigger([seal_trigger(**changed)], "audit") == ["drop", "create", "enable", "seal"]


def test_the_event_trigger_refuses_weakening_ddl_to_all_but_superusers_and_the_owners_members():
    ddl = chain_specs()["log_ddl"]["source"]
    assert "a.rolsuper AND a.rolname IN (SESSION_USER, pg_catalog.current_setting('role'))" in ddl
    assert "pg_catalog.pg_has_role(SESSION_USER, CURRENT_USER, 'MEMBER')" in ddl
    assert "f.proname IN ('log_row_change', 'log_statement_change', 'log_truncate')" in ddl
    assert "t.tgenabled <> 'A' OR t.tgname NOT LIKE" in ddl
    assert ddl.count("USING ERRCODE = 'insufficient_privilege'") == 2


def test_retention_moves_the_start_of_the_chain_past_every_position_it_drops():
    statement = as_text(render.chain_retention_statement("audit", (2026, 8)))
    assert statement == (
        'UPDATE "audit"."chain_head" AS h SET first_seq = o.chain_seq + 1, first_prev = o.row_hash\n'
        '  FROM (SELECT l.chain_seq, l.row_hash FROM "audit"."audit_log" AS l\n'
        "         WHERE l.changed_at < '2026-08-01 00:00:00+00'::timestamptz AND l.chain_seq IS NOT NULL\n"
        "         ORDER BY l.chain_seq DESC LIMIT 1) AS o\n"
        " WHERE o.chain_seq >= h.first_seq"
    )
    verify = chain_specs()["verify_chain"]["source"]
    assert "pg_catalog.lag(l.chain_seq, 1, start_seq - 1)" in verify
    assert "pg_catalog.lag(l.row_hash, 1, start_prev)" in verify


def skip_trigger(relname, **overrides):
    row = dict(
        relname=relname,
        root=relname,
        clone=False,
        tgenabled="R",
        tgtype=plan.TG_ROW | plan.TG_BEFORE | plan.TG_INSERT | plan.TG_UPDATE | plan.TG_DELETE,
        function_schema="audit",
        function_name="skip_applied",
    )
    row.update(overrides)
    return row


def test_each_trail_table_skips_what_a_subscription_applies_and_a_changed_guard_is_repaired():
    tables = ["audit_log", "audited_tables"]
    assert plan.plan_skip_triggers([], tables, "audit") == [
        ("audit_log", ["create", "enable"]),
        ("audited_tables", ["create", "enable"]),
    ]
    in_place = [skip_trigger("audit_log"), skip_trigger("audit_log_202611", root="audit_log", clone=True)]
    assert plan.plan_skip_triggers(in_place + [skip_trigger("audited_tables")], tables, "audit") == []
    # ENABLE TRIGGER ALL (pg_restore --disable-triggers) leaves it ENABLE (origin): back to REPLICA.
    restored = [
        skip_trigger("audit_log"),
        skip_trigger("audit_log_202611", root="audit_log", clone=True, tgenabled="O"),
    ]
    assert plan.plan_skip_triggers(restored, ["audit_log"], "audit") == [("audit_log", ["enable"])]
    changed = [skip_trigger("audit_log", tgtype=plan.TG_ROW | plan.TG_INSERT)]
    assert plan.plan_skip_triggers(changed, ["audit_log"], "audit") == [("audit_log", ["drop", "create", "enable"])]
    assert [as_text(s) for s in render.skip_trigger_statements("audit", [("chain_head", ["create", "enable"])])] == [
        'CREATE TRIGGER "pgtrail_skip_applied" BEFORE INSERT OR UPDATE OR DELETE ON "audit"."chain_head" FOR EACH ROW '
        'EXECUTE FUNCTION "audit"."skip_applied"()',
        'ALTER TABLE "audit"."chain_head" ENABLE REPLICA TRIGGER "pgtrail_skip_applied"',
    ]
    skip = chain_specs()["skip_applied"]["source"]
    assert "pg_catalog.pg_trigger_depth() = 1" in skip and "pg_catalog.pg_stat_subscription" in skip


def test_a_row_a_replication_worker_applies_names_its_subscription_and_costs_others_one_setting_check():
    specs = chain_specs()
    for name in ("log_row_change", "log_statement_change"):
        assert sql_functions.REPLICATION in specs[name]["source"]
    assert sql_functions.REPLICATION.startswith(
        "CASE WHEN pg_catalog.current_setting('session_replication_role') = 'replica'"
    )
