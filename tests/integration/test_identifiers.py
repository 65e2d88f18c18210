"""Names given to the modules mean what the same text means in SQL, on a real server: unquoted
names fold ASCII letters only, quoted names keep case, dots, spaces and quotes. Each spelling must
reach the table (and column) that PostgreSQL itself would pick, never a neighbour whose name
differs only in case."""

import json

import pytest
from pgaudit_testlib import Objects, succeeded, unique

# Every table has the same columns, in pairs that differ only in case, so a wrongly folded
# column name in exclude_columns or object_audit hits the neighbour instead of failing.
COLUMNS = '(id int PRIMARY KEY, "Note" text, note text, "Ärger" text, "ärger" text)'
TABLES = ["public.Äpfel", 'public."äpfel"', 'public."ÄPFEL"', 'public."MixedCase"', "public.mixedcase"]
SETUP = 'CREATE SCHEMA "we.ird";\n' + "".join(
    "CREATE TABLE %s %s;\n" % (name, COLUMNS) for name in TABLES + ['"we.ird"."ta ble"']
)

# (spelling in the inventory, exclude_columns spelling) -> (schema, table, excluded column) in the
# catalog, as CREATE TABLE / ALTER TABLE ... DROP COLUMN with the same text would resolve them.
CASES = [
    ("public.Äpfel", "Ärger", ("public", "Äpfel", "Ärger")),
    ('public."äpfel"', '"ärger"', ("public", "äpfel", "ärger")),
    ('Public . "ÄPFEL"', "NOTE", ("public", "ÄPFEL", "note")),
    ('public."MixedCase"', '"Note"', ("public", "MixedCase", "Note")),
    ("PUBLIC.MixedCase", "Note", ("public", "mixedcase", "note")),
    ('"we.ird"."ta ble"', '"Ärger"', ("we.ird", "ta ble", "Ärger")),
]


@pytest.fixture(scope="module")
def objects(pg):
    made = Objects(pg)
    yield made
    made.drop()


@pytest.fixture
def db(pg, objects):
    name = objects.database("pgt_ident")
    pg.psql(SETUP, db=name)
    return name


def trail(pg, db, tables):
    return pg.module("audit_trail", dict(database=db, tables=tables))


def audited(pg, db):
    """schema|table of every relation holding a trail trigger."""
    return pg.psql(
        "SELECT DISTINCT n.nspname || '|' || c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE t.tgname LIKE 'pgtrail_audit_%' ORDER BY 1",
        db=db,
    ).splitlines()


def logged(pg, db):
    """{(schema, table): sorted keys of new_data} of the INSERTs in the log."""
    out = pg.psql(
        "SELECT coalesce(json_agg(json_build_array(schema_name, table_name, new_data)), '[]') "
        "FROM audit.audit_log WHERE action = 'INSERT'",
        db=db,
    )
    return {(s, t): sorted(new) for s, t, new in json.loads(out)}


def insert_everywhere(pg, db):
    pg.psql(
        "".join("INSERT INTO %s VALUES (1, 'a', 'b', 'c', 'd');" % n for n in TABLES + ['"we.ird"."ta ble"']), db=db
    )


def test_the_issue_input_audits_the_table_created_unquoted_not_its_lower_case_neighbour(pg, db):
    # CREATE TABLE public.Äpfel stores "Äpfel"; "äpfel" exists too and must stay unaudited.
    result = succeeded(trail(pg, db, ["public.Äpfel"]))
    assert result["added"] == ['public."Äpfel"']
    assert audited(pg, db) == ["public|Äpfel"]
    insert_everywhere(pg, db)
    assert list(logged(pg, db)) == [("public", "Äpfel")]


def test_every_spelling_reaches_the_table_and_column_sql_would(pg, db):
    tables = [dict(name=given, exclude_columns=[column]) for given, column, _expected in CASES]
    result = succeeded(trail(pg, db, tables))
    assert sorted(audited(pg, db)) == sorted("%s|%s" % expected[:2] for _g, _c, expected in CASES)
    insert_everywhere(pg, db)
    rows = logged(pg, db)
    every = ["Note", "id", "note", "Ärger", "ärger"]
    for given, _column, (schema, table, excluded) in CASES:
        assert rows.get((schema, table)) == [c for c in every if c != excluded], given
    # Results name each table one way, which reads back as the same table: a second run is a no-op.
    shown = sorted(t["name"] for t in result["tables"])
    assert shown == sorted(
        [
            'public."Äpfel"',
            'public."äpfel"',
            'public."ÄPFEL"',
            'public."MixedCase"',
            "public.mixedcase",
            '"we.ird"."ta ble"',
        ]
    )
    again = succeeded(
        trail(pg, db, [dict(name=t["name"], exclude_columns=t["exclude_columns"]) for t in result["tables"]])
    )
    assert again["changed"] is False


def test_object_audit_grants_reach_the_table_and_column_sql_would(pg, objects, db):
    role = unique("pgt_ident_obj")
    objects.adopt_role(role)
    grants = [
        {"database": db, "table": "public.Äpfel", "privileges": ["SELECT"], "columns": ["Ärger", '"Note"']},
        {"database": db, "table": "Public.MixedCase", "privileges": ["UPDATE"]},
        {"database": db, "table": '"we.ird"."ta ble"', "privileges": ["DELETE"]},
    ]
    succeeded(pg.module("object_audit", dict(role=role, grants=grants)))
    held = pg.psql(
        "SELECT c.oid::regclass || ':' || a.privilege_type FROM pg_class c, aclexplode(c.relacl) a "
        "WHERE a.grantee = '%s'::regrole "
        "UNION ALL SELECT c.oid::regclass || '.' || att.attname || ':' || a.privilege_type "
        "FROM pg_attribute att JOIN pg_class c ON c.oid = att.attrelid, aclexplode(att.attacl) a "
        "WHERE a.grantee = '%s'::regrole ORDER BY 1" % (role, role),
        db=db,
    ).splitlines()
    assert sorted(held) == sorted(
        ['"Äpfel".Note:SELECT', '"Äpfel".Ärger:SELECT', "mixedcase:UPDATE", '"we.ird"."ta ble":DELETE']
    )
