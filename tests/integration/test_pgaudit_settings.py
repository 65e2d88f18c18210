"""pgtrail.audit.pgaudit_settings against real PostgreSQL with pgaudit loaded: every scope, exactly,
all or nothing, idempotent, and really producing (or not) AUDIT lines."""

import pytest
from pgaudit_testlib import (
    Objects,
    db_role_settings,
    ensure_pgaudit_loaded,
    log_lines,
    pgaudit_unloaded,
    run_as,
    staged,
    succeeded,
    unique,
)

# System-level names these tests set; put back as they were at the end.
SYSTEM_NAMES = (
    "pgaudit.log",
    "pgaudit.log_catalog",
    "pgaudit.log_level",
    "pgaudit.log_parameter",
    "pgaudit.log_parameter_max_size",
    "log_connections",
    "log_line_prefix",
    "max_connections",
)


def auto_conf_values(pg):
    out = pg.psql(
        "SELECT name || '=' || setting FROM pg_file_settings WHERE sourcefile = "
        "current_setting('data_directory') || '/postgresql.auto.conf'"
    )
    return dict(line.split("=", 1) for line in out.splitlines() if line)


@pytest.fixture(scope="module")
def objects(pg):
    """pgaudit loaded; unique databases and roles; the system scope put back afterwards."""
    ensure_pgaudit_loaded(pg)
    before = auto_conf_values(pg)
    made = Objects(pg)
    yield made
    made.drop()
    for name in SYSTEM_NAMES:
        if name in before:
            pg.psql("ALTER SYSTEM SET %s = '%s'" % (name, before[name].replace("'", "''")), check=False)
        else:
            # check=False: PostgreSQL 15 refuses to reset a name pgaudit 1.7 does not have.
            pg.psql("ALTER SYSTEM RESET %s" % name, check=False)
    pg.psql("SELECT pg_reload_conf()")


def run(pg, args, **kwargs):
    return pg.module("pgaudit_settings", args, **kwargs)


def snapshot(pg):
    """Every place a setting can live: configuration files and pg_db_role_setting."""
    return pg.config_snapshot(), pg.psql("SELECT setdatabase, setrole, setconfig FROM pg_db_role_setting ORDER BY 1, 2")


def test_each_scope_is_set_to_exactly_the_value(pg, objects):
    db = objects.database()
    role = objects.role()
    etl = objects.role()
    result = succeeded(
        run(
            pg,
            {
                "system": {"log": ["DDL", "write"], "log_catalog": False},
                "databases": {db: {"pgaudit.log": "read,WRITE", "log_parameter": "yes"}},
                "roles": {role: {"log": "role"}, etl: {"database": db, "log": "all", "log_level": "notice"}},
            },
        )
    )
    assert result["changed"] is True
    assert staged(pg)["pgaudit.log"] == "write, ddl"
    assert staged(pg)["pgaudit.log_catalog"] == "off"
    assert db_role_settings(pg, database=db) == {"pgaudit.log": "read, write", "pgaudit.log_parameter": "on"}
    assert db_role_settings(pg, role=role) == {"pgaudit.log": "role"}
    assert db_role_settings(pg, database=db, role=etl) == {"pgaudit.log": "all", "pgaudit.log_level": "notice"}
    scopes = {(c["scope"], c["target"], c["name"]): c["after"] for c in result["changes"]}
    assert scopes[("role_in_database", "%s@%s" % (etl, db), "pgaudit.log")] == "all"
    assert scopes[("database", db, "pgaudit.log")] == "read, write"
    assert scopes[("role", role, "pgaudit.log")] == "role"
    assert scopes[("system", None, "pgaudit.log")] == "write, ddl"
    # Database and role statements first (one transaction), ALTER SYSTEM after, then one reload.
    assert result["executed_queries"][-1] == "SELECT pg_reload_conf()"
    assert 'ALTER ROLE "%s" IN DATABASE "%s" SET "pgaudit"."log" = \'all\'' % (etl, db) in result["executed_queries"]


def test_a_second_run_changes_nothing(pg, objects):
    db = objects.database()
    role = objects.role()
    args = {
        "system": {"log": "write, ddl"},
        "databases": {db: {"log": ["read", "write"]}},
        "roles": {role: {"database": db, "log": "all, -misc"}},
        "server_settings": {"log_connections": True},
    }
    assert succeeded(run(pg, args))["changed"] is True
    again = succeeded(run(pg, args))
    assert again["changed"] is False
    assert again["changes"] == []
    assert again["executed_queries"] == []
    # Spelling does not matter either.
    args["databases"][db]["log"] = "WRITE , Read"
    args["server_settings"]["log_connections"] = "on"
    assert succeeded(run(pg, args))["changed"] is False


def test_check_mode_changes_nothing_and_reports_the_same_changes(pg, objects):
    db = objects.database()
    role = objects.role()
    args = {"databases": {db: {"log": "read"}}, "roles": {role: {"log": "ddl", "database": db}}}
    before = snapshot(pg)
    checked = succeeded(run(pg, args, check_mode=True, diff=True))
    assert checked["changed"] is True
    assert snapshot(pg) == before
    assert checked["diff"]["before"]["database %s" % db] == {}
    assert checked["diff"]["after"]["database %s" % db] == {"pgaudit.log": "read"}
    real = succeeded(run(pg, args))
    assert real["changes"] == checked["changes"]
    assert real["executed_queries"] == checked["executed_queries"]
    assert db_role_settings(pg, database=db) == {"pgaudit.log": "read"}


def test_an_unknown_class_fails_naming_it_and_nothing_changes_at_any_scope(pg, objects):
    db = objects.database()
    role = objects.role()
    before = snapshot(pg)
    result = run(
        pg,
        {
            "system": {"log": ["write", "bogus"]},
            "databases": {db: {"log": "read"}},
            "roles": {role: {"log": "ddl"}},
        },
    )
    assert result["failed"]
    assert "'bogus'" in result["msg"]
    assert "Nothing was changed" in result["msg"]
    assert snapshot(pg) == before


def test_a_missing_database_among_two_changes_neither(pg, objects):
    db = objects.database()
    missing = unique("pgt_missing")
    before = snapshot(pg)
    result = run(pg, {"databases": {db: {"log": "read"}, missing: {"log": "read"}}})
    assert result["failed"]
    assert "database %r does not exist" % missing in result["msg"]
    assert snapshot(pg) == before
    assert db_role_settings(pg, database=db) == {}


def test_a_missing_role_is_named(pg, objects):
    missing = unique("pgt_nobody")
    result = run(pg, {"roles": {missing: {"log": "read"}}})
    assert result["failed"]
    assert "role %r does not exist" % missing in result["msg"]


def test_log_parameter_max_size_needs_pgaudit_16(pg, objects):
    db = objects.database()
    result = run(pg, {"databases": {db: {"log_parameter_max_size": 2048}}})
    if pg.major < 16:
        assert result["failed"]
        assert (
            "pgaudit.log_parameter_max_size needs pgaudit 16.0 or later; the installed pgaudit is 1.7" in result["msg"]
        )
        assert db_role_settings(pg, database=db) == {}
    else:
        succeeded(result)
        assert db_role_settings(pg, database=db) == {"pgaudit.log_parameter_max_size": "2048"}
        assert result["pgaudit_version"].startswith(str(pg.major))


def test_remove_unlisted_resets_only_pgaudit_entries(pg, objects):
    db = objects.database()
    role = objects.role()
    pg.psql(
        "ALTER DATABASE \"%s\" SET pgaudit.log = 'all';"
        "ALTER DATABASE \"%s\" SET pgaudit.log_level = 'notice';"
        "ALTER DATABASE \"%s\" SET work_mem = '8MB';"
        'ALTER ROLE "%s" IN DATABASE "%s" SET pgaudit.log_relation = \'on\';'
        'ALTER ROLE "%s" IN DATABASE "%s" SET statement_timeout = \'5s\';' % (db, db, db, role, db, role, db)
    )
    result = succeeded(
        run(
            pg,
            {"databases": {db: {"log": "read"}}, "roles": {role: {"database": db}}, "remove_unlisted": True},
        )
    )
    assert db_role_settings(pg, database=db) == {"pgaudit.log": "read", "work_mem": "8MB"}
    assert db_role_settings(pg, database=db, role=role) == {"statement_timeout": "5s"}
    resets = sorted((c["target"], c["name"]) for c in result["changes"] if c["after"] is None)
    assert resets == sorted([("%s@%s" % (role, db), "pgaudit.log_relation"), (db, "pgaudit.log_level")])
    # Without remove_unlisted, a listed scope keeps what the task does not name.
    pg.psql("ALTER DATABASE \"%s\" SET pgaudit.log_client = 'on'" % db)
    assert succeeded(run(pg, {"databases": {db: {"log": "read"}}}))["changed"] is False


def test_remove_unlisted_at_system_scope_keeps_other_parameters(pg, objects):
    succeeded(run(pg, {"system": {"log": "ddl", "log_level": "notice"}, "server_settings": {"log_connections": True}}))
    result = succeeded(run(pg, {"system": {"log": "ddl"}, "remove_unlisted": True}))
    resets = [c["name"] for c in result["changes"] if c["after"] is None]
    assert "pgaudit.log_level" in resets
    assert all(name.startswith("pgaudit.") for name in resets)
    assert "pgaudit.log_level" not in staged(pg)
    assert staged(pg)["pgaudit.log"] == "ddl"
    assert staged(pg, "log_connections")["log_connections"] == "on"


def test_server_settings_compare_with_the_staged_value_and_report_restarts(pg, objects):
    prefix = "%m [%p] %q%u@%d app=%a "
    args = {"server_settings": {"log_connections": "yes", "log_line_prefix": "'%s'" % prefix}}
    succeeded(run(pg, args))
    assert staged(pg, "log_line_prefix")["log_line_prefix"] == prefix
    assert staged(pg, "log_connections")["log_connections"] == "on"
    assert succeeded(run(pg, args))["changed"] is False

    running = int(pg.psql("SHOW max_connections"))
    first = succeeded(run(pg, {"server_settings": {"max_connections": running + 1}}))
    assert first["changed"] is True
    assert first["restart_required"] is True
    assert first["pending_restart"] == ["max_connections"]
    # Staged, not yet running: no change any more, but the restart is still pending.
    again = succeeded(run(pg, {"server_settings": {"max_connections": running + 1}}))
    assert again["changed"] is False
    assert again["restart_required"] is True
    back = succeeded(run(pg, {"server_settings": {"max_connections": running}}))
    assert back["changed"] is True
    assert back["restart_required"] is False


def test_unknown_and_refused_server_parameters_are_named(pg, objects):
    before = snapshot(pg)
    result = run(
        pg,
        {
            "server_settings": {"log_conections": True, "log_statement": "sometimes", "pgaudit.log": "read"},
            "system": {"log": "read"},
        },
    )
    assert result["failed"]
    assert "'log_conections'" in result["msg"]
    assert "log_statement: invalid value 'sometimes'" in result["msg"]
    assert "pgaudit.log is a pgaudit setting" in result["msg"]
    assert snapshot(pg) == before


def test_a_role_in_database_setting_produces_audit_lines_and_a_role_set_to_none_produces_none(pg, objects):
    db = objects.database()
    loud = objects.role("pgt_loud", login=True)
    quiet = objects.role("pgt_quiet", login=True)
    pg.psql("CREATE TABLE notes (body text); GRANT INSERT, SELECT ON notes TO PUBLIC", db=db)
    succeeded(
        run(
            pg,
            {
                "databases": {db: {"log": "write"}},
                "roles": {loud: {"database": db, "log": ["read", "write"]}, quiet: {"database": db, "log": "none"}},
            },
        )
    )
    loud_marker, quiet_marker = unique("loud"), unique("quiet")
    run_as(
        pg, loud, db, "INSERT INTO notes VALUES ('%s'); SELECT * FROM notes WHERE body = '%s'" % ((loud_marker,) * 2)
    )
    run_as(pg, quiet, db, "INSERT INTO notes VALUES ('%s')" % quiet_marker)
    lines = log_lines(pg, loud_marker)
    assert any("AUDIT: SESSION" in line and ",WRITE,INSERT," in line for line in lines), lines
    assert any("AUDIT: SESSION" in line and ",READ,SELECT," in line for line in lines), lines
    assert all("%s@%s" % (loud, db) in line for line in lines), lines
    # The database value (write) would log the quiet role's INSERT: its own 'none' replaces it.
    assert log_lines(pg, quiet_marker) == []


def test_system_settings_staged_before_pgaudit_is_loaded_apply_after_the_restart(pg, objects):
    # The role stages the system scope before the restart that loads pgaudit; PostgreSQL 15
    # refuses ALTER SYSTEM on a parameter it does not know, the module gets past that.
    with pgaudit_unloaded(pg):
        args = {"system": {"log": ["read", "ddl"], "log_client": False}}
        result = succeeded(run(pg, args))
        assert result["changed"] is True
        assert staged(pg)["pgaudit.log"] == "read, ddl"
        assert succeeded(run(pg, args))["changed"] is False
    assert pg.psql("SHOW pgaudit.log") == "read, ddl"
    assert pg.psql("SHOW pgaudit.log_client") == "off"


@pytest.mark.parametrize(
    "profile, expected, deprecated",
    [
        ("stig", {"pgaudit.log": "read, write, role, ddl", "pgaudit.log_catalog": "on"}, False),
        ("baseline", {"pgaudit.log": "write, ddl", "pgaudit.log_catalog": "off"}, False),
        # The old name of baseline still works for one release, with a deprecation.
        ("seed", {"pgaudit.log": "write, ddl", "pgaudit.log_catalog": "off"}, True),
    ],
)
def test_a_profile_is_the_system_scope_the_task_starts_from(pg, objects, profile, expected, deprecated):
    before = snapshot(pg)
    result = succeeded(run(pg, {"profile": profile, "system": {"log_parameter": False}}, check_mode=True, diff=True))
    after = result["diff"]["after"]["system"]
    assert {name: after[name] for name in expected} == expected
    assert after["pgaudit.log_parameter"] == "off"  # the task's own value wins
    messages = [d["msg"] for d in result.get("deprecations", [])]
    assert any("profile seed is renamed baseline" in m for m in messages) is deprecated
    assert snapshot(pg) == before
