"""The audit trail's pure logic: reading the declaration, checking it, and planning triggers,
functions, migrations and log partitions from what the catalog says."""

import pytest

from ansible_collections.pgtrail.audit.plugins.module_utils import audit_trail as at


def render(statement):
    return statement.as_string(None)


# --- the declaration ---------------------------------------------------------------------------


def test_table_entries_are_strings_or_dicts_and_names_fold_like_postgresql():
    explicit, rules, exclusions, problems = at.normalize_request(
        ["Payments", {"name": '"Sales"."Big Orders"', "mode": "statement", "exclude_columns": ["Card", '"CVV"']}],
        [],
        {},
    )
    assert problems == []
    assert explicit == {
        ("public", "payments"): {"given": "Payments", "mode": "row", "exclude": []},
        ("Sales", "Big Orders"): {"given": '"Sales"."Big Orders"', "mode": "statement", "exclude": ["card", "CVV"]},
    }
    assert rules == [] and exclusions == {}


def test_every_bad_entry_is_named_at_once():
    _explicit, _rules, _exclusions, problems = at.normalize_request(
        [
            {"name": "a", "mode": "bulk"},
            {"name": "b", "colour": "red"},
            'public."unterminated',
            "a.b.c",
            "t",
            "T",
            {"name": "c", "exclude_columns": "secret"},
            {"name": "d", "exclude_columns": ["x.y"]},
        ],
        [{"name": "a.b"}],
        {"nosuch.": ["x"]},
    )
    assert problems == [
        "tables[0] (a): mode 'bulk' is not one of row, statement",
        "tables[1]: unknown key(s) colour (known: name, mode, exclude_columns)",
        "tables[2]: unterminated quoted identifier in 'public.\"unterminated'",
        "tables[3]: expected table or schema.table, got 'a.b.c'",
        "tables[5] (T): table public.t is listed twice",
        "tables[6] (c): exclude_columns must be a list of column names",
        "tables[7] (d): column 'x.y' must be a single name (double-quote a name that holds a dot)",
        "schemas[0]: schema 'a.b' must be a single name (double-quote a name that holds a dot)",
        "exclude_columns[nosuch.]: empty identifier in 'nosuch.'",
    ]


def test_a_name_postgresql_would_truncate_is_refused():
    long = "x" * 64
    problems = at.normalize_request([long], [], {})[3]
    assert problems == [
        "tables[0]: table %r: name %s is 64 bytes, longer than the 63 PostgreSQL keeps; it would store %s"
        % (long, long, long[:63])
    ]
    # 63 bytes of UTF-8 are fine; 64 are not, whatever the number of characters.
    assert at.normalize_request(["ü" * 31 + "x"], [], {})[3] == []
    assert at.normalize_request(["ü" * 32], [], {})[3] != []


def test_schema_rules_take_every_table_but_the_excluded_patterns():
    rules = at.normalize_request([], [{"name": "app", "exclude": ["tmp_*", "*_cache", "Log?"]}], {})[1]
    tables = {"app": ["accounts", "tmp_import", "sessions_cache", "LogA", "loga", "orders"]}
    chosen, problems = at.select_from_schemas(rules, tables, "audit")
    assert problems == []
    assert sorted(chosen) == [("app", "accounts"), ("app", "loga"), ("app", "orders")]


def test_schema_rules_refuse_a_missing_schema_and_the_trails_own():
    rules = at.normalize_request([], [{"name": "gone"}, {"name": "audit"}], {})[1]
    chosen, problems = at.select_from_schemas(rules, {"gone": None}, "audit")
    assert chosen == {}
    assert problems == [
        "schema gone does not exist",
        "schema audit is the audit trail's own schema and cannot be audited",
    ]


def test_explicit_entries_win_and_top_level_exclusions_add_up():
    explicit, rules, exclusions, problems = at.normalize_request(
        [{"name": "app.accounts", "exclude_columns": ["pin"]}],
        [{"name": "app"}],
        {"app.accounts": ["password_hash", "pin"], "app.orders": ["note"], "other.t": ["x"]},
    )
    chosen = at.select_from_schemas(rules, {"app": ["accounts", "orders"]}, "audit")[0]
    selection, problems = at.merge_selection(explicit, chosen, exclusions)
    assert selection[("app", "accounts")]["exclude"] == ["pin", "password_hash"]
    assert selection[("app", "orders")] == {"given": "app.orders", "mode": "row", "exclude": ["note"]}
    assert problems == ["exclude_columns names table other.t, which is not audited (list it in tables)"]


def relation(**overrides):
    info = dict(
        relid=16384,
        relkind="r",
        relpersistence="p",
        relispartition=False,
        root_schema=None,
        root_name=None,
        has_key=True,
        columns=["id", "email"],
    )
    info.update(overrides)
    return info


def entry(mode="row", exclude=()):
    return {"given": "x", "mode": mode, "exclude": list(exclude)}


def test_a_missing_table_is_named_exactly_as_postgresql_would_read_it():
    assert at.check_relation(("public", 'Weird "name"'), entry(), None, "audit") == [
        'table public."Weird ""name""" does not exist'
    ]
    assert at.check_relation(("public", "x'); DROP TABLE t; --"), entry(), dict(relid=None), "audit") == [
        'table public."x\'); DROP TABLE t; --" does not exist'
    ]


def test_relations_that_cannot_be_audited_say_why():
    key = ("public", "t")
    assert at.check_relation(key, entry(), relation(relkind="v"), "audit") == [
        "public.t is not a table (relkind 'v'); only tables and partitioned tables can be audited"
    ]
    assert at.check_relation(
        key, entry(), relation(relispartition=True, root_schema="public", root_name="orders"), "audit"
    ) == [
        "table public.t is a partition of public.orders: audit the partitioned table, whose triggers "
        "cover every partition"
    ]
    assert at.check_relation(("audit", "audit_log"), entry(), relation(), "audit") == [
        "table audit.audit_log belongs to the audit trail's own schema and cannot be audited"
    ]
    assert at.check_relation(key, entry("statement", ["nope"]), relation(has_key=False), "audit") == [
        "column nope does not exist in table public.t",
        "table public.t has no primary key: statement mode pairs old and new rows by it; use mode row",
    ]
    assert at.check_relation(key, entry("row", ["email"]), relation(has_key=False), "audit") == []


def options(**overrides):
    params = dict(
        schema="audit", actor_setting="pgtrail.actor_id", partition="none", retention_months=None, app_roles=[]
    )
    params.update(overrides)
    return params


def test_options_are_checked_before_anything_is_read():
    assert at.check_options(options()) == []
    assert at.check_options(options(actor_setting="actor")) == [
        "actor_setting 'actor' is not a custom setting name (two or more identifiers joined by dots, like "
        "pgtrail.actor_id)"
    ]
    assert at.check_options(options(actor_setting="app.user'; --")) != []
    assert at.check_options(options(retention_months=3)) == [
        "retention_months needs partition: monthly (retention drops whole monthly partitions)"
    ]
    assert at.check_options(options(partition="monthly", retention_months=0)) == [
        "retention_months must be 1 or more (or null to keep everything)"
    ]


# --- triggers ----------------------------------------------------------------------------------


def table(mode="row", exclude=(), partitions=()):
    return dict(relid=10, schema="public", name="orders", mode=mode, exclude=list(exclude), partitions=list(partitions))


def test_row_mode_puts_the_row_trigger_on_the_table_and_truncate_triggers_on_every_partition():
    triggers = at.desired_triggers(table(exclude=["card"], partitions=[(11, "public", "orders_eu")]))
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
    triggers = at.desired_triggers(table(mode="statement", partitions=[(11, "public", "orders_eu")]))
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
    spec = at.spec_from_catalog(catalog_row(args=(b"public", b"orders", "pass wörd".encode())))
    desired = at.desired_triggers(table(exclude=["pass wörd"]))[(10, "pgtrail_audit_row")]
    assert at.same_trigger(spec, desired)
    assert at.describe_trigger("pgtrail_audit_row", spec, "A") == at.describe_trigger("pgtrail_audit_row", desired)
    assert at.decode_args(memoryview(b"a\0b\0"), 2) == ("a", "b")


def test_a_before_trigger_or_one_with_other_arguments_is_not_the_same():
    desired = at.desired_triggers(table())[(10, "pgtrail_audit_row")]
    assert not at.same_trigger(at.spec_from_catalog(catalog_row(tgtype=31)), desired)  # BEFORE
    assert not at.same_trigger(at.spec_from_catalog(catalog_row(unusual=True)), desired)  # WHEN ...
    assert not at.same_trigger(at.spec_from_catalog(catalog_row(args=(b"public", b"orders", b"x"))), desired)


def test_triggers_in_place_plan_nothing():
    desired = at.desired_triggers(table())
    current = {key: dict(spec, enabled="A") for key, spec in desired.items()}
    assert at.plan_triggers(current, desired) == []


def test_missing_triggers_are_created_then_enabled_always():
    desired = at.desired_triggers(table())
    steps = at.plan_triggers({}, desired)
    assert [(verb, key[1]) for verb, key, _spec in steps] == [
        ("create", "pgtrail_audit_row"),
        ("enable", "pgtrail_audit_row"),
        ("create", "pgtrail_audit_truncate"),
        ("enable", "pgtrail_audit_truncate"),
    ]


def test_a_changed_definition_is_replaced_in_place_and_a_disabled_trigger_only_enabled():
    desired = at.desired_triggers(table(exclude=["card"]))
    current = at.desired_triggers(table())
    current = {key: dict(spec, enabled="D") for key, spec in current.items()}
    steps = at.plan_triggers(current, desired)
    assert [(verb, key[1]) for verb, key, _spec in steps] == [
        ("replace", "pgtrail_audit_row"),
        ("enable", "pgtrail_audit_row"),
        ("enable", "pgtrail_audit_truncate"),
    ]


def test_triggers_no_longer_wanted_are_dropped_first():
    current = at.desired_triggers(table())
    desired = at.desired_triggers(table(mode="statement"))
    steps = at.plan_triggers({k: dict(s, enabled="A") for k, s in current.items()}, desired)
    assert steps[0][0:2] == ("drop", (10, "pgtrail_audit_row"))
    assert [verb for verb, _key, _spec in steps].count("drop") == 1


def test_a_disabled_clone_on_a_partition_is_enabled_unless_its_parent_is_rebuilt():
    desired = at.desired_triggers(table(partitions=[(11, "public", "orders_eu")]))
    current = {key: dict(spec, enabled="A") for key, spec in desired.items()}
    clones = {(11, "pgtrail_audit_row"): dict(relation=("public", "orders_eu"), enabled="D", root=10)}
    assert at.plan_triggers(current, desired, clones) == [
        ("enable", (11, "pgtrail_audit_row"), {"relation": ("public", "orders_eu")})
    ]
    rebuilt = at.plan_triggers({}, desired, clones)
    assert ("enable", (11, "pgtrail_audit_row"), {"relation": ("public", "orders_eu")}) not in rebuilt


def test_trigger_statements_quote_every_name_and_argument():
    spec = at.desired_triggers(
        dict(relid=1, schema="Sales", name="x'); DROP TABLE t; --", mode="statement", exclude=['pass "w"'])
    )[(1, "pgtrail_audit_stmt_upd")]
    (create,) = at.trigger_statements('Audit "Trail"', ("replace", (1, "pgtrail_audit_stmt_upd"), spec))
    assert render(create) == (
        'CREATE OR REPLACE TRIGGER "pgtrail_audit_stmt_upd" AFTER UPDATE ON "Sales"."x\'); DROP TABLE t; --" '
        'REFERENCING OLD TABLE AS "pgtrail_old" NEW TABLE AS "pgtrail_new" FOR EACH STATEMENT '
        'EXECUTE FUNCTION "Audit ""Trail"""."log_statement_change"(\'Sales\', \'x\'\'); DROP TABLE t; --\', '
        "'pass \"w\"')"
    )
    (enable,) = at.trigger_statements("audit", ("enable", (1, "pgtrail_audit_stmt_upd"), spec))
    assert render(enable) == (
        'ALTER TABLE "Sales"."x\'); DROP TABLE t; --" ENABLE ALWAYS TRIGGER "pgtrail_audit_stmt_upd"'
    )


# --- functions, event triggers, grants ---------------------------------------------------------


def specs(**overrides):
    args = dict(actor_setting="pgtrail.actor_id", actor_expression=None, require_actor=False)
    args.update(overrides)
    return at.function_specs("audit", args["actor_setting"], args["actor_expression"], args["require_actor"], None)


def catalog_function(spec, **overrides):
    row = dict(
        proname=spec["name"],
        prosrc=spec["source"],
        prosecdef=spec["definer"],
        proconfig=at.function_config(spec) or None,
        lanname=at.language_of(spec["name"])[0],
        provolatile=at.language_of(spec["name"])[1],
        arguments=spec["arguments"],
        identity_arguments="",
        result=spec["result"],
    )
    row.update(overrides)
    return row


def test_every_trigger_function_is_security_definer_and_every_name_is_qualified():
    by_name = {spec["name"]: spec for spec in specs()}
    # The ones that are not: SQL helpers inlined into their callers' queries, and row_data, the
    # triggers' slow path, which runs inside them (their role and pinned search_path).
    assert sorted(name for name, spec in by_name.items() if not spec["definer"]) == [
        "changed_fields",
        "current_actor",
        "row_data",
    ]
    assert '"audit"."audit_log"' in by_name["log_row_change"]["source"]
    assert '"audit"."current_actor"' in by_name["log_event"]["source"]
    create = render(at.create_function("audit", by_name["log_truncate"]))
    assert create.startswith(
        'CREATE OR REPLACE FUNCTION "audit"."log_truncate"() RETURNS trigger LANGUAGE plpgsql '
        "SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS "
    )


def test_the_statement_trigger_runs_without_jit_and_with_its_own_work_mem():
    by_name = {spec["name"]: spec for spec in specs()}
    create = render(at.create_function("audit", by_name["log_statement_change"]))
    assert (
        "SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET \"jit\" = 'off' SET \"work_mem\" = '32MB' AS "
        in create
    )
    assert at.function_config(by_name["log_statement_change"]) == [at.SEARCH_PATH, "jit=off", "work_mem=32MB"]
    current = catalog_function(by_name["log_statement_change"], proconfig=[at.SEARCH_PATH])
    assert not at.same_function(current, by_name["log_statement_change"])


def test_changed_fields_is_sql_immutable_and_qualifies_its_operators():
    spec = {s["name"]: s for s in specs()}["changed_fields"]
    create = render(at.create_function("audit", spec))
    assert create.startswith(
        'CREATE OR REPLACE FUNCTION "audit"."changed_fields"(old_data jsonb, new_data jsonb) RETURNS text[] '
        "LANGUAGE sql IMMUTABLE AS "
    )
    assert "->" not in spec["source"].replace("OPERATOR(pg_catalog.->)", "")


def test_the_actor_comes_from_the_expression_then_the_setting_and_can_be_required():
    plain = {s["name"]: s for s in specs()}
    assert plain["current_actor"]["source"] == "SELECT nullif(pg_catalog.current_setting('pgtrail.actor_id', true), '')"
    assert not [name for name, spec in plain.items() if "RAISE EXCEPTION 'pgtrail.audit: no actor" in spec["source"]]
    create = render(at.create_function("audit", plain["current_actor"]))
    # SQL and STABLE, without SET: PostgreSQL inlines it into the trigger functions' statements.
    assert create.startswith(
        'CREATE OR REPLACE FUNCTION "audit"."current_actor"() RETURNS text LANGUAGE sql STABLE AS '
    )

    supabase = {
        s["name"]: s for s in specs(actor_expression="auth.uid()", actor_setting="app.user", require_actor=True)
    }
    assert supabase["current_actor"]["source"] == (
        "SELECT coalesce((auth.uid())::text, nullif(pg_catalog.current_setting('app.user', true), ''))"
    )
    refusing = sorted(
        name for name, spec in supabase.items() if "RAISE EXCEPTION 'pgtrail.audit: no actor" in spec["source"]
    )
    assert refusing == ["log_row_change", "log_statement_change", "log_truncate"]
    assert "'app.user'" in supabase["log_row_change"]["source"].split("HINT")[1]


def test_functions_in_place_plan_nothing_and_a_changed_body_is_replaced():
    desired = specs()
    current = {spec["name"]: [catalog_function(spec)] for spec in desired}
    assert at.plan_functions(current, desired) == []
    by_name = {spec["name"]: spec for spec in desired}
    current["current_actor"] = [catalog_function(by_name["current_actor"], prosrc="old body")]
    current["log_truncate"] = [catalog_function(by_name["log_truncate"], provolatile="s")]
    current["log_ddl"] = [catalog_function(by_name["log_ddl"], proconfig=None)]
    assert at.plan_functions(current, desired) == [
        ("replace", "current_actor"),
        ("replace", "log_truncate"),
        ("replace", "log_ddl"),
    ]


def test_a_changed_signature_is_dropped_and_created_and_a_missing_function_created():
    desired = specs()
    current = {spec["name"]: [catalog_function(spec)] for spec in desired}
    event = {spec["name"]: spec for spec in desired}["log_event"]
    current["log_event"] = [catalog_function(event, arguments="action text, resource text")]
    del current["log_truncate"]
    assert at.plan_functions(current, desired) == [("create", "log_truncate"), ("recreate", "log_event")]


def test_grant_statements_name_the_signature_without_defaults():
    event = {s["name"]: s for s in specs()}["log_event"]
    assert render(at.function_acl("audit", event, "grant", "app user")) == (
        'GRANT EXECUTE ON FUNCTION "audit"."log_event"(text, text, boolean, jsonb, inet, text, text) TO "app user"'
    )
    assert render(at.function_acl("audit", event, "revoke", None)).endswith("FROM PUBLIC")


def test_log_event_grants_follow_app_roles_exactly():
    assert at.plan_grants(["old_app", "app"], ["app", "web", "web"]) == (["web"], ["old_app"])
    assert at.plan_grants([], []) == ([], [])


def event_trigger(name, event, **overrides):
    row = dict(
        evtname=name, evtevent=event, evtenabled="A", tagged=False, function_schema="audit", function_name="log_ddl"
    )
    row.update(overrides)
    return row


def test_event_triggers_are_created_enabled_always_and_repaired():
    assert at.plan_event_triggers({}, "audit") == [
        ("create", "pgtrail_audit_ddl", "ddl_command_end"),
        ("enable", "pgtrail_audit_ddl", "ddl_command_end"),
        ("create", "pgtrail_audit_drop", "sql_drop"),
        ("enable", "pgtrail_audit_drop", "sql_drop"),
    ]
    current = {
        "pgtrail_audit_ddl": event_trigger("pgtrail_audit_ddl", "ddl_command_end", evtenabled="D"),
        "pgtrail_audit_drop": event_trigger("pgtrail_audit_drop", "sql_drop", tagged=True),
    }
    assert at.plan_event_triggers(current, "audit") == [
        ("enable", "pgtrail_audit_ddl", "ddl_command_end"),
        ("recreate", "pgtrail_audit_drop", "sql_drop"),
        ("enable", "pgtrail_audit_drop", "sql_drop"),
    ]


# --- schema versions ---------------------------------------------------------------------------


def test_a_new_trail_applies_every_migration_and_a_current_one_none():
    assert at.plan_migrations(set()) == [(1, "the audit log, the registry of audited tables and their indexes")]
    assert at.plan_migrations({1}) == []
    assert at.SCHEMA_VERSION == 2


def test_the_hash_chain_is_step_two_applied_only_when_asked_and_in_place():
    chain = (2, "the hash chain: chain_seq, prev_hash and row_hash on the log, and the chain head")
    assert at.plan_migrations(set(), ("hash_chain",)) == [at.MIGRATIONS[0], chain]
    assert at.plan_migrations({1}, ("hash_chain",)) == [chain]
    assert at.plan_migrations({1, 2}, ("hash_chain",)) == []


def test_a_later_release_upgrades_from_the_recorded_version_in_order():
    steps = ((1, "log"), (2, "hash chain"), (3, "something else"))
    assert at.plan_migrations(1, migrations=steps) == [(3, "something else")]
    assert at.plan_migrations(1, ("hash_chain",), steps) == [(2, "hash chain"), (3, "something else")]
    assert at.plan_migrations(0, migrations=steps)[0] == (1, "log")
    # An optional step switched on after later ones were applied still runs.
    assert at.plan_migrations({1, 3}, ("hash_chain",), steps) == [(2, "hash chain")]


def test_a_trail_newer_than_the_collection_is_refused():
    with pytest.raises(ValueError, match="schema version is 3, newer than this collection knows \\(2\\)"):
        at.plan_migrations({1, 3})


def test_migration_one_creates_a_partitioned_log_keyed_by_time_when_asked():
    plain = [render(s) for s in at.migration_statements(1, "audit", partitioned=False)]
    monthly = [render(s) for s in at.migration_statements(1, "audit", partitioned=True)]
    assert plain[0].startswith(
        'CREATE TABLE "audit"."audit_log" (\n    id bigserial NOT NULL,\n    table_name text NOT NULL'
    )
    assert "PRIMARY KEY (id)\n)" in plain[0] and "PARTITION BY" not in plain[0]
    assert monthly[0].endswith("PRIMARY KEY (id, changed_at)\n) PARTITION BY RANGE (changed_at)")
    assert 'CREATE INDEX audit_log_changed_at_brin ON "audit"."audit_log" USING brin (changed_at)' in plain
    assert 'REVOKE ALL ON TABLE "audit"."audit_log" FROM PUBLIC' in plain


# --- monthly partitions ------------------------------------------------------------------------


def test_months_are_added_across_years():
    assert at.month_add((2026, 11), 3) == (2027, 2)
    assert at.month_add((2026, 1), -1) == (2025, 12)
    assert at.month_add((2026, 1), -13) == (2024, 12)
    assert at.month_of_partition("audit_log_202612") == (2026, 12)
    assert at.month_of_partition("audit_log_202613") is None
    assert at.month_of_partition("audit_log_default") is None


def test_a_new_log_gets_the_current_month_three_ahead_and_a_default_partition():
    plan = at.plan_partitions((2026, 11), set(), False, [], None)
    assert plan == dict(
        create=[(2026, 11), (2026, 12), (2027, 1), (2027, 2)],
        move=False,
        purge_before=None,
        drop=[],
        create_default=True,
    )


def test_an_up_to_date_log_plans_nothing():
    existing = {(2026, 10), (2026, 11), (2026, 12), (2027, 1), (2027, 2)}
    assert at.plan_partitions((2026, 11), existing, True, [], None) == dict(
        create=[], move=False, purge_before=None, drop=[], create_default=False
    )


def test_retention_drops_months_before_the_kept_ones_and_purges_the_default_partition():
    existing = {(2026, 6), (2026, 7), (2026, 8), (2026, 11), (2026, 12), (2027, 1), (2027, 2)}
    plan = at.plan_partitions((2026, 11), existing, True, [(2020, 1), (2026, 9)], retention_months=3)
    # kept: 2026-08, 09 and 10 before the current month
    assert plan == dict(
        create=[(2026, 9)],
        move=True,
        purge_before=(2026, 8),
        drop=["audit_log_202606", "audit_log_202607"],
        create_default=False,
    )


def test_rows_waiting_in_the_default_partition_move_and_the_current_month_comes_first():
    plan = at.plan_partitions((2026, 11), set(), True, [(2026, 11), (2026, 10)], None)
    statements = [render(s) for s in at.partition_statements("audit", plan, (2026, 11))]
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
    plan = dict(create=[], move=False, purge_before=None, drop=["audit_log_202001"], create_default=False)
    assert [render(s) for s in at.partition_statements("audit", plan, (2026, 11))] == [
        'ALTER TABLE "audit"."audit_log" DETACH PARTITION "audit"."audit_log_202001"',
        'DROP TABLE "audit"."audit_log_202001"',
    ]


# --- the registry ------------------------------------------------------------------------------


def test_registry_rows_name_the_table_as_a_regclass_and_are_deleted_by_oid():
    entry = dict(schema="public", name='Weird "name"', mode="row", exclude=["b", "a"])
    assert render(at.registry_statement("audit", "insert", 5, entry)) == (
        'INSERT INTO "audit"."audited_tables" (relid, schema_name, table_name, mode, excluded_columns) '
        "VALUES ('public.\"Weird \"\"name\"\"\"'::pg_catalog.regclass, 'public', 'Weird \"name\"', 'row', "
        "ARRAY['b', 'a']::text[])"
    )
    assert render(at.registry_statement("audit", "delete", 5)) == (
        'DELETE FROM "audit"."audited_tables" WHERE relid::pg_catalog.oid = 5'
    )


def test_the_row_trigger_takes_the_slow_path_for_null_fields_only_where_virtual_columns_exist():
    # PostgreSQL 18's virtual generated columns are NULL in a trigger: a row with a NULL may hold
    # one there, and only there is it worth row_data()'s catalog read.
    def row_source(**args):
        specs = at.function_specs("audit", "pgtrail.actor_id", None, False, None, **args)
        return {s["name"]: s for s in specs}

    before, after = row_source(), row_source(virtual_columns=True)
    for name in ("log_row_change", "row_data"):
        assert before[name]["source"].replace("false", "true") == after[name]["source"]
    assert "(false AND NOT (NEW IS NOT NULL))" in before["log_row_change"]["source"]
    assert "pg_catalog.to_jsonb(n)" not in before["log_statement_change"]["source"]
