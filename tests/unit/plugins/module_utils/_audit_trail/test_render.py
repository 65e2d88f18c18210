"""The audit trail's functions as rendered for a database, their grants and the registry's
statements (render.py)."""

from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail import plan, render


def as_text(statement):
    return statement.as_string(None)


# --- functions, event triggers, grants ---------------------------------------------------------


def specs(**overrides):
    args = dict(actor_setting="pgtrail.actor_id", actor_expression=None, require_actor=False)
    args.update(overrides)
    return render.function_specs("audit", args["actor_setting"], args["actor_expression"], args["require_actor"], None)


def catalog_function(spec, **overrides):
    row = dict(
        proname=spec["name"],
        prosrc=spec["source"],
        prosecdef=spec["definer"],
        proconfig=plan.function_config(spec) or None,
        lanname=plan.language_of(spec["name"])[0],
        provolatile=plan.language_of(spec["name"])[1],
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
    create = as_text(render.create_function("audit", by_name["log_truncate"]))
    assert create.startswith(
        'CREATE OR REPLACE FUNCTION "audit"."log_truncate"() RETURNS trigger LANGUAGE plpgsql '
        "SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS "
    )


def test_the_statement_trigger_runs_without_jit_and_with_its_own_work_mem():
    by_name = {spec["name"]: spec for spec in specs()}
    create = as_text(render.create_function("audit", by_name["log_statement_change"]))
    assert (
        "SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET \"jit\" = 'off' SET \"work_mem\" = '32MB' AS "
        in create
    )
    assert plan.function_config(by_name["log_statement_change"]) == [plan.SEARCH_PATH, "jit=off", "work_mem=32MB"]
    current = catalog_function(by_name["log_statement_change"], proconfig=[plan.SEARCH_PATH])
    assert not plan.same_function(current, by_name["log_statement_change"])


def test_changed_fields_is_sql_immutable_and_qualifies_its_operators():
    spec = {s["name"]: s for s in specs()}["changed_fields"]
    create = as_text(render.create_function("audit", spec))
    assert create.startswith(
        'CREATE OR REPLACE FUNCTION "audit"."changed_fields"(old_data jsonb, new_data jsonb) RETURNS text[] '
        "LANGUAGE sql IMMUTABLE AS "
    )
    assert "->" not in spec["source"].replace("OPERATOR(pg_catalog.->)", "")


def test_the_actor_comes_from_the_expression_then_the_setting_and_can_be_required():
    plain = {s["name"]: s for s in specs()}
    assert plain["current_actor"]["source"] == "SELECT nullif(pg_catalog.current_setting('pgtrail.actor_id', true), '')"
    assert not [name for name, spec in plain.items() if "RAISE EXCEPTION 'pgtrail.audit: no actor" in spec["source"]]
    create = as_text(render.create_function("audit", plain["current_actor"]))
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
    assert plan.plan_functions(current, desired) == []
    by_name = {spec["name"]: spec for spec in desired}
    current["current_actor"] = [catalog_function(by_name["current_actor"], prosrc="old body")]
    current["log_truncate"] = [catalog_function(by_name["log_truncate"], provolatile="s")]
    current["log_ddl"] = [catalog_function(by_name["log_ddl"], proconfig=None)]
    assert plan.plan_functions(current, desired) == [
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
    assert plan.plan_functions(current, desired) == [("create", "log_truncate"), ("recreate", "log_event")]


def test_grant_statements_name_the_signature_without_defaults():
    event = {s["name"]: s for s in specs()}["log_event"]
    assert as_text(render.function_acl("audit", event, "grant", "app user")) == (
        'GRANT EXECUTE ON FUNCTION "audit"."log_event"(text, text, boolean, jsonb, inet, text, text) TO "app user"'
    )
    assert as_text(render.function_acl("audit", event, "revoke", None)).endswith("FROM PUBLIC")


def test_log_event_grants_follow_app_roles_exactly():
    assert plan.plan_grants(["old_app", "app"], ["app", "web", "web"]) == (["web"], ["old_app"])
    assert plan.plan_grants([], []) == ([], [])


def event_trigger(name, event, **overrides):
    row = dict(
        evtname=name, evtevent=event, evtenabled="A", tagged=False, function_schema="audit", function_name="log_ddl"
    )
    row.update(overrides)
    return row


def test_event_triggers_are_created_enabled_always_and_repaired():
    assert plan.plan_event_triggers({}, "audit") == [
        ("create", "pgtrail_audit_ddl", "ddl_command_end"),
        ("enable", "pgtrail_audit_ddl", "ddl_command_end"),
        ("create", "pgtrail_audit_drop", "sql_drop"),
        ("enable", "pgtrail_audit_drop", "sql_drop"),
    ]
    current = {
        "pgtrail_audit_ddl": event_trigger("pgtrail_audit_ddl", "ddl_command_end", evtenabled="D"),
        "pgtrail_audit_drop": event_trigger("pgtrail_audit_drop", "sql_drop", tagged=True),
    }
    assert plan.plan_event_triggers(current, "audit") == [
        ("enable", "pgtrail_audit_ddl", "ddl_command_end"),
        ("recreate", "pgtrail_audit_drop", "sql_drop"),
        ("enable", "pgtrail_audit_drop", "sql_drop"),
    ]


# --- the registry ------------------------------------------------------------------------------


def test_registry_rows_name_the_table_as_a_regclass_and_are_deleted_by_oid():
    entry = dict(schema="public", name='Weird "name"', mode="row", exclude=["b", "a"])
    assert as_text(render.registry_statement("audit", "insert", 5, entry)) == (
        'INSERT INTO "audit"."audited_tables" (relid, schema_name, table_name, mode, excluded_columns) '
        "VALUES ('public.\"Weird \"\"name\"\"\"'::pg_catalog.regclass, 'public', 'Weird \"name\"', 'row', "
        "ARRAY['b', 'a']::text[])"
    )
    assert as_text(render.registry_statement("audit", "delete", 5)) == (
        'DELETE FROM "audit"."audited_tables" WHERE relid::pg_catalog.oid = 5'
    )


def test_the_row_trigger_takes_the_slow_path_for_null_fields_only_where_virtual_columns_exist():
    # PostgreSQL 18's virtual generated columns are NULL in a trigger: a row with a NULL may hold
    # one there, and only there is it worth row_data()'s catalog read.
    def row_source(**args):
        specs = render.function_specs("audit", "pgtrail.actor_id", None, False, None, **args)
        return {s["name"]: s for s in specs}

    before, after = row_source(), row_source(virtual_columns=True)
    for name in ("log_row_change", "row_data"):
        assert before[name]["source"].replace("false", "true") == after[name]["source"]
    assert "(false AND NOT (NEW IS NOT NULL))" in before["log_row_change"]["source"]
    assert "pg_catalog.to_jsonb(n)" not in before["log_statement_change"]["source"]
