"""pgtrail.audit.object_audit against real PostgreSQL: the NOLOGIN role holds exactly the declared
privileges, and pgaudit logs AUDIT: OBJECT lines for those tables and columns only."""

import pytest
from pgaudit_testlib import Objects, ensure_pgaudit_loaded, log_lines, run_as, succeeded, unique

TABLES = """
CREATE TABLE payments (id int, amount numeric, card text);
CREATE TABLE notes (id int, body text);
CREATE SCHEMA "Ledger";
CREATE TABLE "Ledger"."Entries" (id int);
GRANT SELECT, INSERT, UPDATE, DELETE ON payments, notes TO PUBLIC;
"""


@pytest.fixture(scope="module")
def objects(pg):
    ensure_pgaudit_loaded(pg)
    made = Objects(pg)
    yield made
    made.drop()


@pytest.fixture
def finance(pg, objects):
    """A database with tables, and an audit role name nobody uses yet (dropped at the end)."""
    db = objects.database("pgt_fin")
    pg.psql(TABLES, db=db)
    role = unique("pgt_audit")
    objects.adopt_role(role)
    return db, role


def run(pg, role, grants, **kwargs):
    return pg.module("object_audit", dict(role=role, grants=grants, **kwargs.pop("args", {})), **kwargs)


def privileges(pg, db, role):
    """(table, privilege) and (table.column, privilege) the role holds, from the catalog."""
    tables = pg.psql(
        "SELECT c.relname || ':' || a.privilege_type FROM pg_class c, aclexplode(c.relacl) a "
        "WHERE a.grantee = '%s'::regrole ORDER BY 1" % role,
        db=db,
    ).split()
    columns = pg.psql(
        "SELECT c.relname || '.' || att.attname || ':' || a.privilege_type FROM pg_attribute att "
        "JOIN pg_class c ON c.oid = att.attrelid, aclexplode(att.attacl) a "
        "WHERE a.grantee = '%s'::regrole ORDER BY 1" % role,
        db=db,
    ).split()
    return sorted(tables + columns)


def test_the_role_is_created_nologin_and_holds_exactly_the_grants(pg, finance):
    db, role = finance
    grants = [
        {"database": db, "table": "payments", "privileges": ["select", "DELETE"]},
        {"database": db, "table": "public.notes", "privileges": ["UPDATE"], "columns": ["body"]},
        {"database": db, "table": '"Ledger"."Entries"', "privileges": ["INSERT"]},
    ]
    result = succeeded(run(pg, role, grants))
    assert result["changed"] is True
    assert result["role_created"] is True
    assert pg.psql("SELECT rolcanlogin FROM pg_roles WHERE rolname = '%s'" % role) == "f"
    assert privileges(pg, db, role) == sorted(
        ["Entries:INSERT", "payments:SELECT", "payments:DELETE", "notes.body:UPDATE"]
    )
    assert result["grants"] == [
        {"database": db, "table": '"Ledger"."Entries"', "privileges": ["INSERT"]},
        {"database": db, "table": "public.notes", "privileges": ["UPDATE"], "columns": ["body"]},
        {"database": db, "table": "public.payments", "privileges": ["SELECT", "DELETE"]},
    ]
    again = succeeded(run(pg, role, grants))
    assert again["changed"] is False
    assert again["executed_queries"] == []
    # The returned grants read back as the same declaration.
    assert succeeded(run(pg, role, result["grants"]))["changed"] is False


def test_check_mode_reports_and_changes_nothing(pg, finance):
    db, role = finance
    grants = [{"database": db, "table": "payments", "privileges": ["SELECT"]}]
    checked = succeeded(run(pg, role, grants, check_mode=True, diff=True))
    assert checked["changed"] is True
    assert checked["role_created"] is True
    assert checked["grants"] == [{"database": db, "table": "public.payments", "privileges": ["SELECT"]}]
    assert checked["diff"]["before"] == {"role_exists": False, "grants": []}
    assert pg.psql("SELECT count(*) FROM pg_roles WHERE rolname = '%s'" % role) == "0"
    real = succeeded(run(pg, role, grants))
    assert real["executed_queries"] == checked["executed_queries"]


def test_exclusive_revokes_what_is_not_declared(pg, finance):
    db, role = finance
    succeeded(run(pg, role, [{"database": db, "table": "payments", "privileges": ["SELECT"]}]))
    pg.psql('GRANT TRUNCATE ON payments TO "%s"; GRANT SELECT (body) ON notes TO "%s"' % (role, role), db=db)
    kept = succeeded(
        run(pg, role, [{"database": db, "table": "payments", "privileges": ["SELECT"]}], args={"exclusive": False})
    )
    assert kept["changed"] is False
    result = succeeded(run(pg, role, [{"database": db, "table": "payments", "privileges": ["SELECT"]}]))
    assert result["changed"] is True
    assert privileges(pg, db, role) == ["payments:SELECT"]
    assert (
        'REVOKE TRUNCATE ON TABLE "public"."payments" FROM "%s" -- database %s' % (role, db)
        in result["executed_queries"]
    )


def test_truncate_is_refused_with_the_reason_and_nothing_changes(pg, finance):
    db, role = finance
    result = run(pg, role, [{"database": db, "table": "payments", "privileges": ["SELECT", "TRUNCATE"]}])
    assert result["failed"]
    assert "TRUNCATE is not covered by pgaudit object auditing" in result["msg"]
    assert pg.psql("SELECT count(*) FROM pg_roles WHERE rolname = '%s'" % role) == "0"


def test_a_missing_table_or_column_is_named_and_nothing_changes(pg, finance):
    db, role = finance
    result = run(
        pg,
        role,
        [
            {"database": db, "table": "payments", "privileges": ["SELECT"]},
            {"database": db, "table": "public.nope", "privileges": ["SELECT"]},
            {"database": db, "table": "notes", "privileges": ["SELECT"], "columns": ["missing_col"]},
            {"database": unique("pgt_nodb"), "table": "notes", "privileges": ["SELECT"]},
        ],
    )
    assert result["failed"]
    assert "table public.nope does not exist in database %s" % db in result["msg"]
    assert "column missing_col does not exist in table public.notes" in result["msg"]
    assert "does not exist or does not accept connections" in result["msg"]
    assert pg.psql("SELECT count(*) FROM pg_roles WHERE rolname = '%s'" % role) == "0"


def test_a_role_that_can_log_in_is_refused(pg, objects, finance):
    db, _role = finance
    login = objects.role("pgt_login", login=True)
    result = run(pg, login, [{"database": db, "table": "payments", "privileges": ["SELECT"]}])
    assert result["failed"]
    assert "role %r can log in" % login in result["msg"]
    assert privileges(pg, db, login) == []


def test_object_audit_logs_the_granted_table_and_columns_and_not_the_others(pg, objects, finance):
    db, role = finance
    app = objects.role("pgt_app", login=True)
    succeeded(
        run(
            pg,
            role,
            [
                {"database": db, "table": "payments", "privileges": ["SELECT"]},
                {"database": db, "table": "notes", "privileges": ["UPDATE"], "columns": ["body"]},
            ],
        )
    )
    # pgaudit.role for this database only, through the settings module.
    succeeded(pg.module("pgaudit_settings", {"databases": {db: {"role": role}}}))
    paid, noted, touched, untouched = (unique(m) for m in ("paid", "noted", "touched", "untouched"))
    run_as(
        pg,
        app,
        db,
        "SELECT * FROM payments WHERE card = '{paid}';"
        "SELECT * FROM notes WHERE body = '{noted}';"
        "UPDATE notes SET body = '{touched}' WHERE id = 1;"
        "UPDATE notes SET id = 2 WHERE id = length('{untouched}');".format(
            paid=paid, noted=noted, touched=touched, untouched=untouched
        ),
    )
    paid_lines = log_lines(pg, paid)
    assert any("AUDIT: OBJECT" in line and ",READ,SELECT,TABLE,public.payments," in line for line in paid_lines), (
        paid_lines
    )
    touched_lines = log_lines(pg, touched)
    assert any("AUDIT: OBJECT" in line and ",WRITE,UPDATE,TABLE,public.notes," in line for line in touched_lines), (
        touched_lines
    )
    # notes is read (no SELECT granted) and updated without touching the audited column: no line.
    assert log_lines(pg, noted, kind="AUDIT: OBJECT") == []
    assert log_lines(pg, untouched, kind="AUDIT: OBJECT") == []
