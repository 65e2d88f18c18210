"""pgtrail.audit.pgaudit_extension against real PostgreSQL: created everywhere it can be, refused
while the library is not loaded, re-created when its version is not the library's."""

import pytest
from pgaudit_testlib import Objects, ensure_pgaudit_loaded, pgaudit_unloaded, succeeded, unique


def extension_version(pg, db):
    return pg.psql("SELECT extversion FROM pg_extension WHERE extname = 'pgaudit'", db=db) or None


def connectable(pg):
    return pg.psql("SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1").split()


@pytest.fixture(scope="module")
def available(pg):
    """pgaudit loaded; its version. Afterwards the extension is dropped where these tests created it:
    with it, DDL fails in that database whenever the library is not loaded."""
    version = ensure_pgaudit_loaded(pg)
    had = {db for db in connectable(pg) if extension_version(pg, db)}
    yield version
    for db in connectable(pg):
        if db not in had and extension_version(pg, db):
            pg.psql("DROP EXTENSION pgaudit", db=db)


@pytest.fixture(scope="module")
def objects(pg, available):
    made = Objects(pg)
    yield made
    made.drop()


def run(pg, args=None, **kwargs):
    return pg.module("pgaudit_extension", args or {}, **kwargs)


def test_created_in_every_connectable_database_including_template1(pg, available, objects):
    db = objects.database()
    result = succeeded(run(pg))
    everywhere = connectable(pg)
    assert "template1" in everywhere
    assert "template0" not in everywhere
    for name in everywhere:
        assert extension_version(pg, name) == available, name
    assert result["changed"] is True
    assert result["databases"][db] == {"before": None, "after": available}
    assert "template0" not in result["databases"]
    assert 'CREATE EXTENSION "pgaudit" -- database %s' % db in result["executed_queries"]
    again = succeeded(run(pg))
    assert again["changed"] is False
    assert again["executed_queries"] == []


def test_check_mode_reports_and_creates_nothing(pg, available, objects):
    db = objects.database()
    result = succeeded(run(pg, {"databases": [db]}, check_mode=True, diff=True))
    assert result["changed"] is True
    assert result["databases"] == {db: {"before": None, "after": available}}
    assert result["diff"] == {"before": {db: None}, "after": {db: available}}
    assert extension_version(pg, db) is None


def test_an_unknown_database_is_named_before_any_change(pg, available, objects):
    db = objects.database()
    missing = unique("pgt_missing")
    result = run(pg, {"databases": [db, missing]})
    assert result["failed"]
    assert "database %r does not exist" % missing in result["msg"]
    assert extension_version(pg, db) is None
    refused = run(pg, {"databases": ["template0"]})
    assert refused["failed"]
    assert "'template0' does not allow connections" in refused["msg"]


def test_another_version_is_dropped_and_created_again(pg, available, objects):
    db = objects.database()
    succeeded(run(pg, {"databases": [db]}))
    # What a major upgrade leaves behind: the catalog names the old library's version.
    pg.psql("UPDATE pg_extension SET extversion = '1.0' WHERE extname = 'pgaudit'", db=db)
    result = succeeded(run(pg, {"databases": [db]}))
    assert result["changed"] is True
    assert result["recreated"] == [db]
    assert result["databases"][db] == {"before": "1.0", "after": available}
    assert result["executed_queries"] == [
        'DROP EXTENSION "pgaudit" -- database %s' % db,
        'CREATE EXTENSION "pgaudit" -- database %s' % db,
    ]
    assert extension_version(pg, db) == available
    assert succeeded(run(pg, {"databases": [db]}))["changed"] is False


def test_absent_drops_it(pg, available, objects):
    db = objects.database()
    succeeded(run(pg, {"databases": [db]}))
    result = succeeded(run(pg, {"databases": [db], "state": "absent"}))
    assert result["databases"][db] == {"before": available, "after": None}
    assert extension_version(pg, db) is None
    assert succeeded(run(pg, {"databases": [db], "state": "absent"}))["changed"] is False


def test_refused_while_pgaudit_is_not_loaded_unless_a_check_run_expects_it(pg, available, objects):
    db = objects.database()
    with pgaudit_unloaded(pg):
        before = pg.config_snapshot()
        result = run(pg, {"databases": [db]})
        assert result["failed"]
        assert "pgaudit is not in the running shared_preload_libraries" in result["msg"]
        assert "restart" in result["msg"]
        assert extension_version(pg, db) is None
        assert run(pg, {"databases": [db]}, check_mode=True)["failed"]
        # The role's --check run before the restart that loads pgaudit.
        expected = succeeded(run(pg, {"databases": [db], "expect_loaded": True}, check_mode=True))
        assert expected["changed"] is True
        assert expected["databases"][db] == {"before": None, "after": available}
        # expect_loaded is honoured in check mode only.
        assert run(pg, {"databases": [db], "expect_loaded": True})["failed"]
        assert extension_version(pg, db) is None
        assert pg.config_snapshot() == before
    assert succeeded(run(pg, {"databases": [db]}))["changed"] is True
