"""The audit trail's input: reading the declaration and checking it (request.py)."""

from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail import request


def as_text(statement):
    return statement.as_string(None)


# --- the declaration ---------------------------------------------------------------------------


def test_table_entries_are_strings_or_dicts_and_names_fold_like_postgresql():
    explicit, rules, exclusions, problems = request.normalize_request(
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
    _explicit, _rules, _exclusions, problems = request.normalize_request(
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
    problems = request.normalize_request([long], [], {})[3]
    assert problems == [
        "tables[0]: table %r: name %s is 64 bytes, longer than the 63 PostgreSQL keeps; it would store %s"
        % (long, long, long[:63])
    ]
    # 63 bytes of UTF-8 are fine; 64 are not, whatever the number of characters.
    assert request.normalize_request(["ü" * 31 + "x"], [], {})[3] == []
    assert request.normalize_request(["ü" * 32], [], {})[3] != []


def test_schema_rules_take_every_table_but_the_excluded_patterns():
    rules = request.normalize_request([], [{"name": "app", "exclude": ["tmp_*", "*_cache", "Log?"]}], {})[1]
    tables = {"app": ["accounts", "tmp_import", "sessions_cache", "LogA", "loga", "orders"]}
    chosen, problems = request.select_from_schemas(rules, tables, "audit")
    assert problems == []
    assert sorted(chosen) == [("app", "accounts"), ("app", "loga"), ("app", "orders")]


def test_schema_rules_refuse_a_missing_schema_and_the_trails_own():
    rules = request.normalize_request([], [{"name": "gone"}, {"name": "audit"}], {})[1]
    chosen, problems = request.select_from_schemas(rules, {"gone": None}, "audit")
    assert chosen == {}
    assert problems == [
        "schema gone does not exist",
        "schema audit is the audit trail's own schema and cannot be audited",
    ]


def test_explicit_entries_win_and_top_level_exclusions_add_up():
    explicit, rules, exclusions, problems = request.normalize_request(
        [{"name": "app.accounts", "exclude_columns": ["pin"]}],
        [{"name": "app"}],
        {"app.accounts": ["password_hash", "pin"], "app.orders": ["note"], "other.t": ["x"]},
    )
    chosen = request.select_from_schemas(rules, {"app": ["accounts", "orders"]}, "audit")[0]
    selection, problems = request.merge_selection(explicit, chosen, exclusions)
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
    assert request.check_relation(("public", 'Weird "name"'), entry(), None, "audit") == [
        'table public."Weird ""name""" does not exist'
    ]
    assert request.check_relation(("public", "x'); DROP TABLE t; --"), entry(), dict(relid=None), "audit") == [
        'table public."x\'); DROP TABLE t; --" does not exist'
    ]


def test_relations_that_cannot_be_audited_say_why():
    key = ("public", "t")
    assert request.check_relation(key, entry(), relation(relkind="v"), "audit") == [
        "public.t is not a table (relkind 'v'); only tables and partitioned tables can be audited"
    ]
    assert request.check_relation(
        key, entry(), relation(relispartition=True, root_schema="public", root_name="orders"), "audit"
    ) == [
        "table public.t is a partition of public.orders: audit the partitioned table, whose triggers "
        "cover every partition"
    ]
    assert request.check_relation(("audit", "audit_log"), entry(), relation(), "audit") == [
        "table audit.audit_log belongs to the audit trail's own schema and cannot be audited"
    ]
    assert request.check_relation(key, entry("statement", ["nope"]), relation(has_key=False), "audit") == [
        "column nope does not exist in table public.t",
        "table public.t has no primary key: statement mode pairs old and new rows by it; use mode row",
    ]
    assert request.check_relation(key, entry("row", ["email"]), relation(has_key=False), "audit") == []


def options(**overrides):
    params = dict(
        schema="audit", actor_setting="pgtrail.actor_id", partition="none", retention_months=None, app_roles=[]
    )
    params.update(overrides)
    return params


def test_options_are_checked_before_anything_is_read():
    assert request.check_options(options()) == []
    assert request.check_options(options(actor_setting="actor")) == [
        "actor_setting 'actor' is not a custom setting name (two or more identifiers joined by dots, like "
        "pgtrail.actor_id)"
    ]
    assert request.check_options(options(actor_setting="app.user'; --")) != []
    assert request.check_options(options(retention_months=3)) == [
        "retention_months needs partition: monthly (retention drops whole monthly partitions)"
    ]
    assert request.check_options(options(partition="monthly", retention_months=0)) == [
        "retention_months must be 1 or more (or null to keep everything)"
    ]
