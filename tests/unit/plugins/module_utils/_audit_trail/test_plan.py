"""The audit trail's planning: triggers, migrations and log partitions from what the catalog says
(plan.py), and the statements of those plans."""

import pytest

from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail import describe, plan, render, sql_tables


def as_text(statement):
    return statement.as_string(None)


# --- triggers ----------------------------------------------------------------------------------


def table(mode="row", exclude=(), partitions=()):
    return dict(relid=10, schema="public", name="orders", mode=mode, exclude=list(exclude), partitions=list(partitions))


def test_row_mode_puts_the_row_trigger_on_the_table_and_truncate_triggers_on_every_partition():
    triggers = plan.desired_triggers(table(exclude=["card"], partitions=[(11, "public", "orders_eu")]))
    assert sorted(triggers) == [
        (10, "pgtrail_audit_row"),
        (10, "pgtrail_audit_truncate"),
        (11, "pgtrail_audit_truncate"),
    ]
    assert triggers[(10, "pgtrail_audit_row")] == dict(
        relation=("public", "orders"),
        level="row",
        events=("INSERT", "UPDATE", "DELETE"),
        function="log_row_change",
        args=("public", "orders", "card"),
        old_table=None,
        new_table=None,
    )
    # The partition logs under its parent's name.
    assert triggers[(11, "pgtrail_audit_truncate")]["relation"] == ("public", "orders_eu")
    assert triggers[(11, "pgtrail_audit_truncate")]["args"] == ("public", "orders")


def test_statement_mode_uses_one_trigger_per_event_with_its_transition_tables():
    triggers = plan.desired_triggers(table(mode="statement", partitions=[(11, "public", "orders_eu")]))
    assert sorted(name for relid, name in triggers if relid == 11) == [
        "pgtrail_audit_stmt_del",
        "pgtrail_audit_stmt_ins",
        "pgtrail_audit_stmt_upd",
        "pgtrail_audit_truncate",
    ]
    update = triggers[(10, "pgtrail_audit_stmt_upd")]
    assert (update["events"], update["old_table"], update["new_table"]) == (("UPDATE",), "pgtrail_old", "pgtrail_new")
    assert triggers[(10, "pgtrail_audit_stmt_ins")]["old_table"] is None


def catalog_row(tgtype=29, args=(b"public", b"orders"), enabled="A", **overrides):
    row = dict(
        rel_schema="public",
        rel_name="orders",
        tgtype=tgtype,
        tgenabled=enabled,
        tgargs=b"".join(a + b"\0" for a in args),
        tgnargs=len(args),
        tgoldtable=None,
        tgnewtable=None,
        unusual=False,
        function_name="log_row_change",
    )
    row.update(overrides)
    return row


def test_a_catalog_trigger_reads_back_as_the_spec_that_made_it():
    # tgtype 29 = ROW | INSERT | DELETE | UPDATE
    spec = plan.spec_from_catalog(catalog_row(args=(b"public", b"orders", "pass wörd".encode())))
    desired = plan.desired_triggers(table(exclude=["pass wörd"]))[(10, "pgtrail_audit_row")]
    assert plan.same_trigger(spec, desired)
    assert describe.describe_trigger("pgtrail_audit_row", spec, "A") == describe.describe_trigger(
        "pgtrail_audit_row", desired
    )
    assert plan.decode_args(memoryview(b"a\0b\0"), 2) == ("a", "b")


def test_a_before_trigger_or_one_with_other_arguments_is_not_the_same():
    desired = plan.desired_triggers(table())[(10, "pgtrail_audit_row")]
    assert not plan.same_trigger(plan.spec_from_catalog(catalog_row(tgtype=31)), desired)  # BEFORE
    assert not plan.same_trigger(plan.spec_from_catalog(catalog_row(unusual=True)), desired)  # WHEN ...
    assert not plan.same_trigger(plan.spec_from_catalog(catalog_row(args=(b"public", b"orders", b"x"))), desired)


def test_triggers_in_place_plan_nothing():
    desired = plan.desired_triggers(table())
    current = {key: dict(spec, enabled="A") for key, spec in desired.items()}
    assert plan.plan_triggers(current, desired) == []


def test_missing_triggers_are_created_then_enabled_always():
    desired = plan.desired_triggers(table())
    steps = plan.plan_triggers({}, desired)
    assert [(verb, key[1]) for verb, key, _spec in steps] == [
        ("create", "pgtrail_audit_row"),
        ("enable", "pgtrail_audit_row"),
        ("create", "pgtrail_audit_truncate"),
        ("enable", "pgtrail_audit_truncate"),
    ]


def test_a_changed_definition_is_replaced_in_place_and_a_disabled_trigger_only_enabled():
    desired = plan.desired_triggers(table(exclude=["card"]))
    current = plan.desired_triggers(table())
    current = {key: dict(spec, enabled="D") for key, spec in current.items()}
    steps = plan.plan_triggers(current, desired)
    assert [(verb, key[1]) for verb, key, _spec in steps] == [
        ("replace", "pgtrail_audit_row"),
        ("enable", "pgtrail_audit_row"),
        ("enable", "pgtrail_audit_truncate"),
    ]


def test_triggers_no_longer_wanted_are_dropped_first():
    current = plan.desired_triggers(table())
    desired = plan.desired_triggers(table(mode="statement"))
    steps = plan.plan_triggers({k: dict(s, enabled="A") for k, s in current.items()}, desired)
    assert steps[0][0:2] == ("drop", (10, "pgtrail_audit_row"))
    assert [verb for verb, _key, _spec in steps].count("drop") == 1


def test_a_disabled_clone_on_a_partition_is_enabled_unless_its_parent_is_rebuilt():
    desired = plan.desired_triggers(table(partitions=[(11, "public", "orders_eu")]))
    current = {key: dict(spec, enabled="A") for key, spec in desired.items()}
    clones = {(11, "pgtrail_audit_row"): dict(relation=("public", "orders_eu"), enabled="D", root=10)}
    assert plan.plan_triggers(current, desired, clones) == [
        ("enable", (11, "pgtrail_audit_row"), {"relation": ("public", "orders_eu")})
    ]
    rebuilt = plan.plan_triggers({}, desired, clones)
    assert ("enable", (11, "pgtrail_audit_row"), {"relation": ("public", "orders_eu")}) not in rebuilt


def test_trigger_statements_quote_every_name_and_argument():
    spec = plan.desired_triggers(
        dict(relid=1, schema="Sales", name="x'); DROP TABLE t; --", mode="statement", exclude=['pass "w"'])
    )[(1, "pgtrail_audit_stmt_upd")]
    (create,) = render.trigger_statements('Audit "Trail"', ("replace", (1, "pgtrail_audit_stmt_upd"), spec))
    assert as_text(create) == (
        'CREATE OR REPLACE TRIGGER "pgtrail_audit_stmt_upd" AFTER UPDATE ON "Sales"."x\'); DROP TABLE t; --" '
        'REFERENCING OLD TABLE AS "pgtrail_old" NEW TABLE AS "pgtrail_new" FOR EACH STATEMENT '
        'EXECUTE FUNCTION "Audit ""Trail"""."log_statement_change"(\'Sales\', \'x\'\'); DROP TABLE t; --\', '
        "'pass \"w\"')"
    )
    (enable,) = render.trigger_statements("audit", ("enable", (1, "pgtrail_audit_stmt_upd"), spec))
    assert as_text(enable) == (
        'ALTER TABLE "Sales"."x\'); DROP TABLE t; --" ENABLE ALWAYS TRIGGER "pgtrail_audit_stmt_upd"'
    )


# --- schema versions ---------------------------------------------------------------------------


def test_a_new_trail_applies_every_migration_and_a_current_one_none():
    assert plan.plan_migrations(set()) == [(1, "the audit log, the registry of audited tables and their indexes")]
    assert plan.plan_migrations({1}) == []
    assert sql_tables.SCHEMA_VERSION == 3


def test_the_hash_chain_is_step_three_applied_only_when_asked_and_upgrades_a_v1_chain_in_place():
    v2 = (3, "chain v2: chain_block, BRIN (changed_at, txid), v1 rows become block 0")
    assert plan.plan_migrations(set(), ("hash_chain",)) == [sql_tables.MIGRATIONS[0], v2]
    assert plan.plan_migrations({1}, ("hash_chain",)) == [v2]
    # Chain v1 (step 2) is never installed any more; a log chained by an earlier release is upgraded.
    assert plan.plan_migrations({1, 2}, ("hash_chain",)) == [v2]
    assert plan.plan_migrations({1, 2, 3}, ("hash_chain",)) == []
    assert plan.plan_migrations({1, 3}, ("hash_chain",)) == []


def test_a_later_release_upgrades_from_the_recorded_version_in_order():
    steps = ((1, "log"), (2, "hash chain"), (3, "something else"))
    optional = {2: "hash_chain"}
    assert plan.plan_migrations(1, migrations=steps, optional=optional) == [(3, "something else")]
    assert plan.plan_migrations(1, ("hash_chain",), steps, optional) == [(2, "hash chain"), (3, "something else")]
    assert plan.plan_migrations(0, migrations=steps, optional=optional)[0] == (1, "log")
    # An optional step switched on after later ones were applied still runs.
    assert plan.plan_migrations({1, 3}, ("hash_chain",), steps, optional) == [(2, "hash chain")]


def test_a_trail_newer_than_the_collection_is_refused():
    with pytest.raises(ValueError, match="schema version is 4, newer than this collection knows \\(3\\)"):
        plan.plan_migrations({1, 4})


def test_migration_one_creates_a_partitioned_log_keyed_by_time_when_asked():
    plain = [as_text(s) for s in render.migration_statements(1, "audit", partitioned=False)]
    monthly = [as_text(s) for s in render.migration_statements(1, "audit", partitioned=True)]
    assert plain[0].startswith(
        'CREATE TABLE "audit"."audit_log" (\n    id bigserial NOT NULL,\n    table_name text NOT NULL'
    )
    assert "PRIMARY KEY (id)\n)" in plain[0] and "PARTITION BY" not in plain[0]
    assert monthly[0].endswith("PRIMARY KEY (id, changed_at)\n) PARTITION BY RANGE (changed_at)")
    assert 'CREATE INDEX audit_log_changed_at_brin ON "audit"."audit_log" USING brin (changed_at)' in plain
    assert 'REVOKE ALL ON TABLE "audit"."audit_log" FROM PUBLIC' in plain


# --- monthly partitions ------------------------------------------------------------------------


def test_months_are_added_across_years():
    assert plan.month_add((2026, 11), 3) == (2027, 2)
    assert plan.month_add((2026, 1), -1) == (2025, 12)
    assert plan.month_add((2026, 1), -13) == (2024, 12)
    assert plan.month_of_partition("audit_log_202612") == (2026, 12)
    assert plan.month_of_partition("audit_log_202613") is None
    assert plan.month_of_partition("audit_log_default") is None


def test_a_new_log_gets_the_current_month_three_ahead_and_a_default_partition():
    planned = plan.plan_partitions((2026, 11), set(), False, [], None)
    assert planned == dict(
        create=[(2026, 11), (2026, 12), (2027, 1), (2027, 2)],
        move=False,
        purge_before=None,
        drop=[],
        create_default=True,
    )


def test_an_up_to_date_log_plans_nothing():
    existing = {(2026, 10), (2026, 11), (2026, 12), (2027, 1), (2027, 2)}
    assert plan.plan_partitions((2026, 11), existing, True, [], None) == dict(
        create=[], move=False, purge_before=None, drop=[], create_default=False
    )


def test_retention_drops_months_before_the_kept_ones_and_purges_the_default_partition():
    existing = {(2026, 6), (2026, 7), (2026, 8), (2026, 11), (2026, 12), (2027, 1), (2027, 2)}
    planned = plan.plan_partitions((2026, 11), existing, True, [(2020, 1), (2026, 9)], retention_months=3)
    # kept: 2026-08, 09 and 10 before the current month
    assert planned == dict(
        create=[(2026, 9)],
        move=True,
        purge_before=(2026, 8),
        drop=["audit_log_202606", "audit_log_202607"],
        create_default=False,
    )


def test_rows_waiting_in_the_default_partition_move_and_the_current_month_comes_first():
    planned = plan.plan_partitions((2026, 11), set(), True, [(2026, 11), (2026, 10)], None)
    statements = [as_text(s) for s in render.partition_statements("audit", planned, (2026, 11))]
    assert statements[:2] == [
        'CREATE TEMPORARY TABLE "pg_temp"."pgtrail_moving" (LIKE "audit"."audit_log") ON COMMIT DROP',
        'WITH moved AS (DELETE FROM "audit"."audit_log_default" RETURNING *) INSERT INTO "pg_temp"."pgtrail_moving" '
        "SELECT * FROM moved",
    ]
    assert statements[2] == (
        'CREATE TABLE "audit"."audit_log_202611" PARTITION OF "audit"."audit_log" '
        "FOR VALUES FROM ('2026-11-01 00:00:00+00') TO ('2026-12-01 00:00:00+00')"
    )
    assert statements[3].startswith('CREATE TABLE "audit"."audit_log_202610"')
    assert statements[-1] == 'INSERT INTO "audit"."audit_log" SELECT * FROM "pg_temp"."pgtrail_moving"'


def test_retention_detaches_then_drops():
    planned = dict(create=[], move=False, purge_before=None, drop=["audit_log_202001"], create_default=False)
    assert [as_text(s) for s in render.partition_statements("audit", planned, (2026, 11))] == [
        'ALTER TABLE "audit"."audit_log" DETACH PARTITION "audit"."audit_log_202001"',
        'DROP TABLE "audit"."audit_log_202001"',
    ]


# --- a run: the schema, the tables, the registry ------------------------------------------------


def trail_state(**overrides):
    state = dict(
        applied=set(),
        version=0,
        relations={},
        registry={},
        triggers={},
        clones={},
        partitions=None,
        today=(2026, 11),
        log_owner=None,
        current_user="postgres",
        can_become_log_owner=False,
    )
    state.update(overrides)
    return state


def run_params(**overrides):
    result = dict(schema="audit", state="present", partition="none", hash_chain=False, retention_months=None)
    result.update(overrides)
    return result


@pytest.mark.parametrize(
    "state, options, versions, hash_chain, problem",
    [
        # a new trail: every migration it asks for
        (trail_state(), {}, [1], False, None),
        (trail_state(), dict(hash_chain=True), [1, 3], True, None),
        # a chained log stays chained (a v1 chain is upgraded), and asking to unchain it is refused
        (trail_state(applied={1, 3}, version=3, relations={"audit_log": "r"}), dict(hash_chain=True), [], True, None),
        (trail_state(applied={1, 2}, version=2, relations={"audit_log": "r"}), dict(hash_chain=True), [3], True, None),
        (trail_state(applied={1, 3}, version=3, relations={"audit_log": "r"}), {}, [], True, "cannot be switched off"),
        (trail_state(applied={1, 2}, version=2, relations={"audit_log": "r"}), {}, [3], True, "cannot be switched off"),
        # a log this module did not make, and a change of partitioning, are refused
        (trail_state(relations={"audited_tables": "r"}), {}, [1], False, "already holds audited_tables"),
        (trail_state(applied={1}, version=1, relations={"audit_log": "r"}), dict(partition="monthly"), [], False,
         "changing the partitioning"),
        # state: absent plans no migration and no chain
        (trail_state(applied={1, 2}, version=2), dict(state="absent"), [], False, None),
    ],
)  # fmt: skip
def test_the_trails_schema_is_planned_or_refused_before_anything_changes(state, options, versions, hash_chain, problem):
    migrations, chained, problems = plan.plan_schema(state, run_params(**options))
    assert [m[0] for m in migrations] == versions and chained is hash_chain
    assert (problems == []) if problem is None else (len(problems) == 1 and problem in problems[0])


def test_a_partitioned_table_brings_its_partitions_and_their_clones_follow_their_root():
    selection = {("public", "orders"): dict(mode="row", exclude=["b", "a"])}
    catalog = {("public", "orders"): dict(relid=10, relkind="p")}
    tables = plan.desired_tables(selection, catalog)
    assert tables == {10: dict(relid=10, schema="public", name="orders", mode="row", exclude=["a", "b"], relkind="p")}
    registry = {20: dict(present=True), 30: dict(present=False), 10: dict(present=True)}
    assert plan.audited_roots(tables, registry) == [10, 20]
    clone = {(11, "pgtrail_audit_row"): dict(relation=("public", "orders_1"), enabled="O")}
    desired, root_of, steps = plan.plan_table_triggers(
        tables, {10: [(11, "public", "orders_1")]}, trail_state(clones=clone)
    )
    assert root_of == {11: 10} and tables[10]["partitions"] == [(11, "public", "orders_1")]
    assert set(desired) == {(10, "pgtrail_audit_row"), (10, "pgtrail_audit_truncate"), (11, "pgtrail_audit_truncate")}
    # The parent's row trigger is created (and enabled, which enables its clone): the clone is not enabled alone.
    assert (("enable", (11, "pgtrail_audit_row"))) not in [(verb, key) for verb, key, _spec in steps]


def registry_row(schema, table, mode="row", excluded=()):
    return dict(schema_name=schema, table_name=table, mode=mode, excluded_columns=list(excluded), present=True)


def audited(relid, name, mode="row", exclude=()):
    return dict(relid=relid, schema="public", name=name, mode=mode, exclude=list(exclude), relkind="r")


@pytest.mark.parametrize(
    "tables, registry, trigger_steps, expected",
    [
        # a new table is inserted and added
        ({1: audited(1, "a")}, {}, [], ([("insert", 1)], {1}, set(), [])),
        # a changed mode or exclusion is an update
        ({1: audited(1, "a", exclude=["x"])}, {1: registry_row("public", "a")}, [], ([("update", 1)], set(), {1}, [])),
        # a table in place plans nothing, unless its triggers change (then it is updated)
        ({1: audited(1, "a")}, {1: registry_row("public", "a")}, [], ([], set(), set(), [])),
        ({1: audited(1, "a")}, {1: registry_row("public", "a")}, [("enable", (1, "t"), {})], ([], set(), {1}, [])),
        # a table no longer selected is removed, and so is one with the trail's triggers the registry lacks
        ({}, {1: registry_row("public", "a")}, [], ([], set(), set(), ["public.a"])),
        ({}, {}, [("drop", (9, "t"), dict(relation=("s", "Z")))], ([], set(), set(), ['s."Z"'])),
    ],
)
def test_the_registry_follows_the_tables_and_names_what_is_added_updated_and_removed(
    tables, registry, trigger_steps, expected
):
    steps, added, updated, removed = plan.plan_registry(tables, registry, trigger_steps, {})
    assert ([(verb, relid) for verb, relid, _table in steps], added, updated, removed) == expected


def test_only_a_monthly_log_plans_partitions_and_only_a_locked_down_trail_adopts():
    assert plan.plan_log_partitions(trail_state(), run_params()) is None
    assert plan.plan_log_partitions(trail_state(), run_params(partition="monthly", state="absent")) is None
    assert plan.plan_log_partitions(trail_state(), run_params(partition="monthly"))["create"][0] == (2026, 11)
    assert plan.adopting_owner(trail_state()) is None
    assert plan.adopting_owner(trail_state(log_owner="postgres")) is None
    assert plan.adopting_owner(trail_state(log_owner="audit_owner")) is None
    assert plan.adopting_owner(trail_state(log_owner="audit_owner", can_become_log_owner=True)) == "audit_owner"
