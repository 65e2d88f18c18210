"""The shaping behind audit_info's evidence: sources of settings, weakening, trail coverage,
who can write the log, the chain verifier's row and the package lookup."""

from ansible_collections.pgtrail.audit.plugins.module_utils import audit_facts

DATA = "/var/lib/postgresql/17/main"


def test_alter_system_and_configuration_files_are_told_apart_by_the_file():
    rows = [
        {"name": "pgaudit.log", "setting": "read", "sourcefile": "/etc/postgresql/17/main/conf.d/a.conf",
         "sourceline": 3, "error": None},
        {"name": "pgaudit.log", "setting": "write, ddl", "sourcefile": DATA + "/postgresql.auto.conf",
         "sourceline": 4, "error": None},
        {"name": "log_connections", "setting": "on", "sourcefile": "/etc/postgresql/17/main/postgresql.conf",
         "sourceline": 9, "error": None},
        {"name": "shared_preload_libraries", "setting": "pgaudit", "sourcefile": DATA + "/postgresql.auto.conf",
         "sourceline": 5, "error": "setting could not be applied"},
        {"name": None, "setting": None, "sourcefile": "/etc/x.conf", "sourceline": 1, "error": "syntax error"},
    ]  # fmt: skip
    staged = audit_facts.staged_settings(rows, DATA)
    assert staged["pgaudit.log"] == {
        "value": "write, ddl",
        "source": {"file": DATA + "/postgresql.auto.conf", "line": 4, "via": "ALTER SYSTEM"},
    }
    assert staged["log_connections"]["source"]["via"] == "config file"
    # A postmaster parameter changed since the start is staged, waiting for the restart.
    assert staged["shared_preload_libraries"]["value"] == "pgaudit"
    assert [e["name"] for e in audit_facts.system_entries(staged)] == ["pgaudit.log"]


def test_scope_entries_cover_alter_role_all_database_role_and_role_in_database_in_that_order():
    rows = [
        {"datname": None, "rolname": "etl", "setconfig": ["pgaudit.log=none", "log_statement=all"]},
        {"datname": "shop", "rolname": "etl", "setconfig": ["pgaudit.log=read"]},
        {"datname": "shop", "rolname": None, "setconfig": ["pgaudit.log=read, write", "work_mem=4MB"]},
        {"datname": None, "rolname": None, "setconfig": ["pgaudit.log=ddl"]},
    ]
    entries = audit_facts.scope_entries(rows)
    assert [(e["scope"], e["target"], e["value"], e["source"]["via"]) for e in entries] == [
        ("all_roles", "ALL", "ddl", "ALTER ROLE ALL"),
        ("database", "shop", "read, write", "ALTER DATABASE"),
        ("role", "etl", "none", "ALTER ROLE"),
        ("role_in_database", "etl@shop", "read", "ALTER ROLE IN DATABASE"),
    ]
    logging = audit_facts.scope_entries(rows, prefix="log_")
    assert [(e["target"], e["name"], e["value"]) for e in logging] == [("etl", "log_statement", "all")]


def test_weakening_lists_values_that_drop_system_classes_and_not_wider_ones():
    entries = [
        {"scope": "database", "target": "shop", "name": "pgaudit.log", "value": "read"},
        {"scope": "role", "target": "auditor", "name": "pgaudit.log", "value": "all"},
        {"scope": "role", "target": "odd", "name": "pgaudit.log", "value": "bogus"},
        {"scope": "role", "target": "x", "name": "pgaudit.log_catalog", "value": "off"},
    ]
    found = audit_facts.weakening(entries, "write, ddl")
    assert found[0] == {
        "scope": "database",
        "target": "shop",
        "setting": "pgaudit.log",
        "value": "read",
        "system_value": "write, ddl",
        "classes_dropped": ["ddl", "write"],
    }
    assert found[1]["target"] == "odd" and "unknown class" in found[1]["error"]
    assert len(found) == 2


def test_pgaudit_is_found_under_any_spelling_of_the_library():
    lib = "/usr/lib/postgresql/17/lib"
    assert audit_facts.library_listed(["$libdir/pgaudit"], "pgaudit", lib)
    assert audit_facts.library_listed([lib + "/pgaudit.so"], "pgaudit", lib)
    assert not audit_facts.library_listed(["pgaudit_extra"], "pgaudit", lib)
    assert not audit_facts.library_listed(None, "pgaudit", lib)


def trigger(rel, name, enabled="A", root=None):
    schema, table = rel.split(".")
    root_schema, root_name = (root or rel).split(".")
    return dict(
        rel_schema=schema, rel_name=table, tgname=name, enabled=enabled, root_schema=root_schema, root_name=root_name
    )


def test_coverage_reports_missing_triggers_partition_triggers_not_always_and_uncovered_tables():
    registry = [
        {"schema_name": "public", "table_name": "orders", "mode": "row"},
        {"schema_name": "public", "table_name": "lines", "mode": "statement"},
        {"schema_name": "public", "table_name": "gone", "mode": "row"},
    ]
    triggers = [
        trigger("public.orders", "pgtrail_audit_row", "O"),
        trigger("public.lines", "pgtrail_audit_stmt_ins"),
        trigger("public.lines", "pgtrail_audit_stmt_upd"),
        trigger("public.lines", "pgtrail_audit_stmt_del"),
        trigger("public.lines", "pgtrail_audit_truncate"),
        trigger("public.lines_1", "pgtrail_audit_truncate", "D", root="public.lines"),
    ]
    tables = [("public", "orders"), ("public", "lines"), ("public", "scratch"), ("audit", "audit_log")]
    coverage = audit_facts.trail_coverage(registry, triggers, tables, {"pgtrail_audit_ddl": "A"}, "audit")
    by_table = {t["table"]: t for t in coverage["audited"]}
    assert by_table["public.orders"]["missing_triggers"] == ["pgtrail_audit_truncate"]
    assert by_table["public.orders"]["not_always"] == [
        {"relation": "public.orders", "trigger": "pgtrail_audit_row", "enabled": "O"}
    ]
    assert by_table["public.lines"]["missing_triggers"] == []
    assert by_table["public.lines"]["not_always"][0]["relation"] == "public.lines_1"
    assert by_table["public.lines"]["enable_always"] is False
    assert by_table["public.gone"]["present"] is False and by_table["public.gone"]["enable_always"] is None
    assert coverage["uncovered"] == ["public.scratch"]
    assert coverage["audited_schemas"] == ["public"]


def test_a_privilege_public_holds_is_listed_once_for_public():
    rows = [
        {"grantee": "PUBLIC", "privilege": "INSERT"},
        {"grantee": "app", "privilege": "INSERT"},
        {"grantee": "etl", "privilege": "INSERT"},
        {"grantee": "etl", "privilege": "TRUNCATE"},
        {"grantee": "etl", "privilege": "UPDATE"},
    ]
    assert audit_facts.writers(rows) == [
        {"role": "PUBLIC", "privileges": ["INSERT"]},
        {"role": "etl", "privileges": ["UPDATE", "TRUNCATE"]},
    ]


def test_parameter_grants_leave_out_superusers():
    rows = [
        {"parname": "pgaudit.log", "grantee": "postgres", "superuser": True, "privilege_type": "SET"},
        {"parname": "pgaudit.log", "grantee": "r1", "superuser": False, "privilege_type": "SET"},
        {"parname": "pgaudit.log", "grantee": "r1", "superuser": False, "privilege_type": "ALTER SYSTEM"},
    ]
    assert audit_facts.parameter_grants(rows) == [
        {"parameter": "pgaudit.log", "role": "r1", "privileges": ["ALTER SYSTEM", "SET"]}
    ]


def test_a_verifier_row_missing_columns_gives_nulls_and_keeps_extra_ones():
    result = audit_facts.chain_result({"ok": True, "checked": 3, "high_water": 9, "head_hash": b"\x01"})
    assert result["ok"] is True and result["broken_id"] is None and result["head_id"] is None
    assert result["high_water"] == 9 and result["head_hash"] == "b'\\x01'"
    assert audit_facts.chain_result(None)["ok"] is None


def test_the_package_comes_from_dpkg_then_rpm(tmp_path):
    library = tmp_path / "pgaudit.so"
    library.write_text("")
    answers = {
        ("dpkg-query", "-S"): (0, "postgresql-17-pgaudit: %s\n" % library, ""),
        ("dpkg-query", "-W"): (0, "17.1-1", ""),
    }
    package = audit_facts.package_of(str(library), lambda args: answers[tuple(args[:2])])
    assert package == {"name": "postgresql-17-pgaudit", "version": "17.1-1", "manager": "dpkg"}

    def rpm_only(args):
        if args[0] == "dpkg-query":
            raise OSError("no dpkg")
        return 0, "pgaudit_17 17.1-1PGDG.rhel9\n", ""

    assert audit_facts.package_of(str(library), rpm_only) == {
        "name": "pgaudit_17",
        "version": "17.1-1PGDG.rhel9",
        "manager": "rpm",
    }
    assert audit_facts.package_of(str(tmp_path / "missing.so"), rpm_only) is None


def test_a_published_log_and_a_failing_subscription_are_warned_about_and_nothing_else():
    publications = [
        dict(name="p_all", all_tables=True, trail_tables=["audit.audit_log", "audit.chain_head"]),
        dict(name="p_app", all_tables=False, trail_tables=[]),
        dict(name="p_registry", all_tables=False, trail_tables=["audit.audited_tables"]),
    ]
    subscriptions = [
        dict(name="s_ok", apply_error_count=0, sync_error_count=0),
        dict(name="s_stuck", apply_error_count=12, sync_error_count=None),
    ]
    warnings = audit_facts.replication_warnings(publications, subscriptions, "audit")
    assert len(warnings) == 2
    assert warnings[0].startswith("publication p_all publishes the audit log audit.audit_log (FOR ALL TABLES)")
    assert warnings[1].startswith("subscription s_stuck has failed 12 time(s) applying changes and 0 time(s)")
    assert audit_facts.replication_warnings(publications[1:], subscriptions[:1], "audit") == []


def test_a_backup_role_needs_usage_on_the_schema_and_select_on_every_table_and_sequence():
    objects = [dict(name="audit_log", kind="r"), dict(name="audit_log_id_seq", kind="S")]
    assert audit_facts.backup_needs("audit", objects) == [
        "USAGE on schema audit",
        "SELECT on audit.audit_log",
        "SELECT on audit.audit_log_id_seq",
    ]
