"""The hash chain's pure parts: migrations 2 and 3, the canonical text and the leaf, the sealer,
the insert-only guard's plan (sql_chain.py and the plans and statements that use it)."""

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


def test_the_sealer_is_a_definer_with_a_pinned_search_path_locking_the_head_row_by_snapshot():
    specs = chain_specs()
    assert not {"seal_chain", "seal_chain_at_commit", "verify_chain"} & set(specs)
    seal = specs["seal"]["source"]
    # The sealer's lock is the head's row, which only the owner and superusers can lock: no
    # advisory key, which any role can take, and no horizon (pg_snapshot_xmin) any session holds back.
    assert 'PERFORM FROM "audit"."chain_head" AS h FOR UPDATE;' in seal
    assert "advisory" not in seal and "pg_snapshot_xmin" not in seal
    assert "pg_catalog.current_setting('transaction_isolation') <> 'read committed'" in seal
    assert "IF snap.xmax < prev.snap_xmax THEN" in seal and "restored into another cluster" in seal
    assert "((l.txid >= prev.snap_xmax AND l.txid < snap.xmax) OR l.txid = ANY (ended))" in seal
    assert "AND l.txid <> ALL (snap.xip))" in seal
    assert sql_chain.LEAF in seal and sql_chain.BLOCK_HASH in seal
    for name in ("seal", "refuse_change"):
        create = as_text(render.create_function("audit", specs[name]))
        assert "SECURITY DEFINER SET search_path = pg_catalog, pg_temp" in create
    assert as_text(render.create_function("audit", specs["seal"])).startswith(
        'CREATE OR REPLACE FUNCTION "audit"."seal"() RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER'
    )
    # On a chain upgraded from v1, v2 seals only what v1 did not, and v1's verifier stays for block 0.
    upgraded = chain_specs(v1_rows=True)
    assert "AND l.txid <> ALL (snap.xip) AND l.chain_seq IS NULL)" in upgraded["seal"]["source"]
    assert "verify_chain" in upgraded and "seal_chain" not in upgraded


def test_a_leaf_is_the_binary_record_of_every_column_of_the_log_in_table_order():
    assert sql_chain.LEAF.startswith("pg_catalog.sha256(pg_catalog.record_send(ROW(l.id, l.table_name, ")
    assert re.findall(r"\bl\.([a-z_]+)", sql_chain.LEAF) == LOG_COLUMNS


def test_migration_three_seals_nothing_new_in_block_zero_and_upgrades_v1_in_place():
    fresh = [as_text(s) for s in render.migration_statements(3, "audit", partitioned=False)]
    assert fresh[0].startswith('CREATE TABLE "audit"."chain_head"')
    assert any(s.startswith('CREATE TABLE "audit"."chain_block" (\n    block bigint PRIMARY KEY') for s in fresh)
    assert 'REVOKE ALL ON TABLE "audit"."chain_block" FROM PUBLIC' in fresh
    zero = [s for s in fresh if s.startswith('INSERT INTO "audit"."chain_block"')]
    assert len(zero) == 1 and "pg_catalog.gen_random_uuid() AS chain_id" in zero[0]
    assert 'DROP INDEX IF EXISTS "audit"."audit_log_changed_at_brin"' in fresh
    assert (
        'CREATE INDEX audit_log_changed_at_txid_brin ON "audit"."audit_log" USING brin (changed_at, txid) '
        "WITH (autosummarize = on)" in fresh
    )
    assert not [s for s in fresh if "chain_seq" in s or "seal_chain" in s or "UPDATE" in s]
    upgrade = [as_text(s) for s in render.migration_statements(3, "audit", partitioned=False, v1_rows=True)]
    assert upgrade[:2] == [
        'DROP TRIGGER IF EXISTS "pgtrail_chain_seal" ON "audit"."audit_log"',
        'SELECT "audit"."seal_chain"(wait => true)',
    ]
    assert not [s for s in upgrade if s.startswith('CREATE TABLE "audit"."chain_head"')]
    assert "l.chain_seq IS NULL" in [s for s in upgrade if s.startswith('INSERT INTO "audit"."chain_block"')][0]
    assert upgrade[-4:-1] == [
        'DROP INDEX IF EXISTS "audit"."audit_log_unsealed"',
        'DROP FUNCTION "audit"."seal_chain_at_commit"()',
        'DROP FUNCTION "audit"."seal_chain"(boolean)',
    ]


def insert_only(relname, **overrides):
    row = dict(
        relname=relname,
        tgenabled="A",
        tgtype=plan.TG_BEFORE | plan.TG_UPDATE | plan.TG_DELETE | plan.TG_TRUNCATE,
        function_schema="audit",
        function_name="refuse_change",
    )
    row.update(overrides)
    return row


def test_the_log_its_partitions_and_the_blocks_are_insert_only_and_a_changed_guard_is_repaired():
    wanted = ["audit_log", "chain_block", "audit_log_202611"]
    assert plan.plan_insert_only([], wanted, "audit") == [(name, ["create", "enable"]) for name in wanted]
    in_place = [insert_only(name) for name in wanted]
    assert plan.plan_insert_only(in_place, wanted, "audit") == []
    # a partition made by hand, a disabled guard, a guard that lets UPDATE through
    assert plan.plan_insert_only(
        [insert_only("audit_log"), insert_only("chain_block", tgenabled="D"), dict(relname="audit_log_202611")]
        + [insert_only("audit_log_202612", tgtype=plan.TG_BEFORE | plan.TG_DELETE | plan.TG_TRUNCATE)],
        wanted + ["audit_log_202612"],
        "audit",
    ) == [
        ("chain_block", ["enable"]),
        ("audit_log_202611", ["create", "enable"]),
        ("audit_log_202612", ["drop", "create", "enable"]),
    ]
    assert [as_text(s) for s in render.insert_only_statements("audit", [("chain_block", ["create", "enable"])])] == [
        'CREATE TRIGGER "pgtrail_insert_only" BEFORE UPDATE OR DELETE OR TRUNCATE ON "audit"."chain_block" FOR EACH '
        'STATEMENT EXECUTE FUNCTION "audit"."refuse_change"()',
        'ALTER TABLE "audit"."chain_block" ENABLE ALWAYS TRIGGER "pgtrail_insert_only"',
    ]
    refuse = chain_specs()["refuse_change"]["source"]
    assert "TG_TABLE_NAME <> 'chain_block' AND pg_catalog.current_setting('pgtrail_audit.retention', true) = 'on'" in (
        refuse
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


def test_v1s_sealing_trigger_is_dropped_from_a_chain_v2_and_never_created():
    v1 = dict(on_log=True, tgenabled="O")
    assert plan.plan_chain_trigger([], False) == []
    assert plan.plan_chain_trigger([v1], False) == ["drop"]
    # migration 3 drops it itself
    assert plan.plan_chain_trigger([v1], True) == []
    assert [as_text(s) for s in render.chain_trigger_statements("audit", ["drop"])] == [
        'DROP TRIGGER "pgtrail_chain_seal" ON "audit"."audit_log"'
    ]


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
    verify = chain_specs(v1_rows=True)["verify_chain"]["source"]
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
        source = specs[name]["source"]
        guard = "IF pg_catalog.current_setting('session_replication_role') = 'replica' THEN"
        assert guard in source and sql_functions.REPLICATION in source
        # Not in the INSERT: its plan would set the sub-select up again at every executor start.
        insert = source[source.index("INSERT INTO") :]
        assert sql_functions.REPLICATION not in insert and "pg_stat_subscription" not in insert
