"""The owner's own DDL on audited tables, with the trail locked down, in a schema that neither
PUBLIC nor the trail's owner may use: every statement works for the table's (non-superuser)
owner and for a superuser, is recorded as a 'ddl' row, and later writes log under the table's
current name. Uninstall and removing a table from `tables:` work in the same setup, and what
weakens the trail is still refused.

One template database per host holds the setup (the module runs once); each case runs in a
fresh copy of it.
"""

import json
import re

import pytest
from pgaudit_testlib import Objects, run_as, succeeded, unique
from testbed import ROOT

from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.sql_chain import LEAF, ROW_BLOCK, ROW_BLOCKS
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.verify import VERIFY_ROWS

# The application's schema and tables, made by (and owned by) {app}. s.other is partitioned and
# not audited.
SETUP = """
CREATE SCHEMA s AUTHORIZATION "{app}";
SET ROLE "{app}";
CREATE TABLE s.t (id int PRIMARY KEY, n int);
CREATE INDEX t_n ON s.t (n);
CREATE TABLE s.st (id int PRIMARY KEY, n int);
INSERT INTO s.st VALUES (1, 1);
CREATE TABLE s.sales (id int, d date NOT NULL) PARTITION BY RANGE (d);
CREATE TABLE s.sales_2025 PARTITION OF s.sales FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE s.other (id int, d date NOT NULL) PARTITION BY RANGE (d);
CREATE TABLE s.other_2025 PARTITION OF s.other FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
RESET ROLE;
"""
TABLES = ["s.t", "s.sales", {"name": "s.st", "mode": "statement"}]

# (id, statement, recorded as (action, schema, table) or None when no audited table is
# concerned, a later write and the (schema, table) it must be logged under, or None; the
# lowest major). {app} is the tables' owner.
CASES = [
    (
        "create-partition",
        "CREATE TABLE s.sales_2026 PARTITION OF s.sales FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')",
        ("CREATE TABLE", "s", "sales"),
        ("INSERT INTO s.sales_2026 VALUES (1, '2026-03-01')", "s", "sales"),
        15,
    ),
    (
        "attach-partition",
        "CREATE TABLE s.loose (id int, d date NOT NULL);"
        "ALTER TABLE s.sales ATTACH PARTITION s.loose FOR VALUES FROM ('2027-01-01') TO ('2028-01-01')",
        ("ALTER TABLE", "s", "sales"),
        ("INSERT INTO s.loose VALUES (1, '2027-03-01')", "s", "sales"),
        15,
    ),
    (
        "attach-an-audited-table-under-one-not-audited",
        "CREATE TABLE s.parent (id int NOT NULL, n int) PARTITION BY RANGE (id);"
        "ALTER TABLE s.parent ATTACH PARTITION s.t FOR VALUES FROM (0) TO (1000)",
        ("ALTER TABLE", "s", "t"),
        ("INSERT INTO s.parent VALUES (1, 1)", "s", "t"),
        15,
    ),
    ("detach-partition", "ALTER TABLE s.sales DETACH PARTITION s.sales_2025", ("ALTER TABLE", "s", "sales"), None, 15),
    (
        "detach-partition-concurrently",
        "ALTER TABLE s.sales DETACH PARTITION s.sales_2025 CONCURRENTLY",
        ("ALTER TABLE", "s", "sales"),
        None,
        15,
    ),
    (
        "partition-of-a-table-not-audited",
        "CREATE TABLE s.other_2026 PARTITION OF s.other FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');"
        "ALTER TABLE s.other DETACH PARTITION s.other_2025",
        None,
        None,
        15,
    ),
    (
        "rename",
        "ALTER TABLE s.t RENAME TO t_renamed",
        ("ALTER TABLE", "s", "t_renamed"),
        ("INSERT INTO s.t_renamed VALUES (1, 1)", "s", "t_renamed"),
        15,
    ),
    (
        "rename-partitioned",
        "ALTER TABLE s.sales RENAME TO sales_renamed",
        ("ALTER TABLE", "s", "sales_renamed"),
        ("INSERT INTO s.sales_renamed VALUES (1, '2025-03-01')", "s", "sales_renamed"),
        15,
    ),
    (
        "rename-statement-mode",
        "ALTER TABLE s.st RENAME TO st_renamed",
        ("ALTER TABLE", "s", "st_renamed"),
        ("UPDATE s.st_renamed SET n = 2", "s", "st_renamed"),
        15,
    ),
    (
        "set-schema",
        "CREATE SCHEMA s_next; ALTER TABLE s.t SET SCHEMA s_next",
        ("ALTER TABLE", "s_next", "t"),
        ("INSERT INTO s_next.t VALUES (1, 1)", "s_next", "t"),
        15,
    ),
    (
        "rename-schema",
        "ALTER SCHEMA s RENAME TO s_renamed",
        ("ALTER SCHEMA", "s_renamed", "t"),
        ("INSERT INTO s_renamed.t VALUES (1, 1)", "s_renamed", "t"),
        15,
    ),
    (
        "add-column",
        "ALTER TABLE s.t ADD COLUMN note text",
        ("ALTER TABLE", "s", "t"),
        ("INSERT INTO s.t (id, note) VALUES (1, 'x')", "s", "t"),
        15,
    ),
    (
        "drop-column",
        "ALTER TABLE s.t DROP COLUMN n",
        ("ALTER TABLE", "s", "t"),
        ("INSERT INTO s.t VALUES (1)", "s", "t"),
        15,
    ),
    (
        "alter-column-type",
        "ALTER TABLE s.t ALTER COLUMN n TYPE bigint",
        ("ALTER TABLE", "s", "t"),
        ("INSERT INTO s.t VALUES (1, 5000000000)", "s", "t"),
        15,
    ),
    (
        "add-stored-generated-column",
        "ALTER TABLE s.t ADD COLUMN twice int GENERATED ALWAYS AS (n * 2) STORED",
        ("ALTER TABLE", "s", "t"),
        ("INSERT INTO s.t VALUES (1, 2)", "s", "t"),
        15,
    ),
    (
        "add-virtual-generated-column",
        "ALTER TABLE s.t ADD COLUMN thrice int GENERATED ALWAYS AS (n * 3) VIRTUAL",
        ("ALTER TABLE", "s", "t"),
        ("INSERT INTO s.t VALUES (1, 2)", "s", "t"),
        18,
    ),
    ("create-index", "CREATE INDEX t_id_n ON s.t (id, n)", ("CREATE INDEX", "s", "t"), None, 15),
    (
        "create-index-concurrently",
        "CREATE INDEX CONCURRENTLY t_id_n ON s.t (id, n)",
        ("CREATE INDEX", "s", "t"),
        ("INSERT INTO s.t VALUES (1, 1)", "s", "t"),
        15,
    ),
    ("drop-index", "DROP INDEX s.t_n", ("DROP INDEX", "s", "t_n"), None, 15),
    ("drop-index-concurrently", "DROP INDEX CONCURRENTLY s.t_n", ("DROP INDEX", "s", "t_n"), None, 15),
    ("drop-table", "DROP TABLE s.t", ("DROP TABLE", "s", "t"), None, 15),
    ("drop-partitioned-table", "DROP TABLE s.sales", ("DROP TABLE", "s", "sales"), None, 15),
    ("drop-schema-cascade", "DROP SCHEMA s CASCADE", ("DROP SCHEMA", "s", "t"), None, 15),
    ("drop-owned", 'DROP OWNED BY "{app}"', ("DROP OWNED", "s", "t"), None, 15),
    (
        "temp-tables-only",
        "CREATE TEMP TABLE tmp (id int PRIMARY KEY); ALTER TABLE tmp RENAME TO tmp2; CREATE INDEX ON tmp2 (id);"
        "DROP TABLE tmp2",
        None,
        None,
        15,
    ),
    (
        "temp-and-audited-table-in-one-statement",
        "CREATE TEMP TABLE scratch (id int); DROP TABLE scratch, s.t",
        ("DROP TABLE", "s", "t"),
        None,
        15,
    ),
]

# Statements that cannot run in a transaction commit; this puts the copy back for the next case.
UNDO = {
    "detach-partition-concurrently": "ALTER TABLE s.sales ATTACH PARTITION s.sales_2025 "
    "FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')",
    "create-index-concurrently": "DROP INDEX s.t_id_n; DELETE FROM s.t",
    "drop-index-concurrently": "CREATE INDEX t_n ON s.t (n)",
}

# chain_verify's content check (the sealed rows against their leaves), as the module sends it.
CHAIN_CHECK = VERIFY_ROWS.format(
    row_blocks=ROW_BLOCKS.format(block="audit.chain_block", head="audit.chain_head"),
    row_block=ROW_BLOCK,
    block="audit.chain_block",
    log="audit.audit_log",
    leaf=LEAF,
    v2_rows="",
).strip()

# What one case leaves in its database, read in one query: the new log rows and the registry.
OUTCOME = """
DO $$BEGIN PERFORM audit.seal(); END$$;
SELECT json_build_object(
  'ddl', (SELECT coalesce(json_agg(json_build_array(action, schema_name, table_name, login_role) ORDER BY id), '[]')
            FROM audit.audit_log WHERE id > {mark} AND kind = 'ddl'),
  'rows', (SELECT coalesce(json_agg(json_build_array(schema_name, table_name, login_role) ORDER BY id), '[]')
             FROM audit.audit_log WHERE id > {mark} AND kind = 'row'),
  'registry', (SELECT coalesce(json_agg(json_build_array(schema_name, table_name)
                                         ORDER BY schema_name, table_name), '[]')
                 FROM audit.audited_tables),
  'chain_ok', (SELECT v.bad_pos IS NULL FROM ({verify}) AS v))
""".replace("{verify}", CHAIN_CHECK)


@pytest.fixture(scope="module")
def objects(pg_all):
    made = Objects(pg_all)
    yield made
    made.drop()


@pytest.fixture(scope="module")
def estate(pg_all, objects):
    """The template: the trail (hash-chained) on s.t, s.sales and s.st, then the lockdown."""
    pg = pg_all
    app = objects.role("pgt_app", login=True)
    owner = unique("pgt_trail_owner")
    objects.adopt_role(owner)
    template = objects.database("pgt_ddl_tpl")
    pg.psql(SETUP.format(app=app), db=template)
    succeeded(pg.module("audit_trail", dict(database=template, tables=TABLES, hash_chain=True)))
    succeeded(pg.module("audit_lockdown", dict(database=template, owner=owner, app_roles=[app])))
    mark = int(pg.psql("SELECT max(id) FROM audit.audit_log", db=template))
    return dict(template=template, app=app, owner=owner, mark=mark)


def copy_of(pg, estate, objects):
    """A fresh copy of the template, where the app may create schemas (as migrating apps do)."""
    name = unique("pgt_ddl")
    pg.psql(
        'CREATE DATABASE "%s" TEMPLATE "%s"; GRANT CREATE ON DATABASE "%s" TO "%s"'
        % (name, estate["template"], name, estate["app"])
    )
    objects.databases.append(name)
    return name


@pytest.fixture
def db(pg_all, estate, objects):
    return copy_of(pg_all, estate, objects)


@pytest.fixture(scope="module")
def refusals_db(pg_all, estate, objects):
    """One copy for every refusal: each is rolled back."""
    return copy_of(pg_all, estate, objects)


def outcome(pg, estate, db):
    return json.loads(pg.psql(OUTCOME.format(mark=estate["mark"]), db=db))


# One case in the batch below: as the owner (SET SESSION AUTHORIZATION: the session user changes,
# as at a login) or as postgres, in a transaction rolled back after reading what the log and the
# registry hold. Statements that cannot run in a transaction (CONCURRENTLY) commit instead.
CASE_SQL = """
SELECT max(id) AS mark FROM audit.audit_log \\gset
\\echo '@@ {key}'
{begin}{become}{statements}
RESET SESSION AUTHORIZATION;
{outcome}
{end}
"""


@pytest.fixture(scope="module")
def outcomes(pg_all, estate, objects):
    """Every case, as the owner and as a superuser, in one session on one copy of the template:
    {(case id, who): (what psql printed, the outcome)}."""
    pg, app = pg_all, estate["app"]
    script = []
    for case_id, statement, _recorded, later, since in CASES:
        if pg.major < since:
            continue
        concurrent = "CONCURRENTLY" in statement
        for who in ("owner", "superuser"):
            statements = [statement.format(app=app)] + ([later[0]] if later else [])
            script.append(
                CASE_SQL.format(
                    key="%s %s" % (case_id, who),
                    begin="" if concurrent else "BEGIN;\n",
                    become='SET SESSION AUTHORIZATION "%s";\n' % app if who == "owner" else "",
                    statements=";\n".join(statements) + ";",
                    outcome=OUTCOME.replace("{mark}", ":mark").strip() + ";",
                    end=UNDO[case_id] + ";" if concurrent else "ROLLBACK;",
                )
            )
    result = pg.psql("\\set ON_ERROR_STOP 0\n" + "".join(script), db=copy_of(pg, estate, objects), check=False)
    found = {"errors": result.stderr}
    for section in result.stdout.split("@@ ")[1:]:
        key, _newline, output = section.partition("\n")
        lines = [line for line in output.strip().splitlines() if line.startswith("{")]
        found[tuple(key.split(" "))] = (output, json.loads(lines[-1]) if lines else None)
    return found


def test_the_schema_is_closed_to_public_and_to_the_trails_owner(pg_all, estate):
    grants = pg_all.psql(
        "SELECT has_schema_privilege('public', 's', 'USAGE')::text || ',' || "
        "has_schema_privilege('%s', 's', 'USAGE')::text" % estate["owner"],
        db=estate["template"],
    )
    assert grants == "false,false"


@pytest.mark.parametrize("who", ["owner", "superuser"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_the_owners_ddl_works_is_recorded_and_later_writes_log_under_the_current_name(
    pg_all, estate, outcomes, case, who
):
    case_id, _statement, recorded, later, since = case
    if pg_all.major < since:
        pytest.skip("PostgreSQL %d has no such DDL" % pg_all.major)
    output, found = outcomes[(case_id, who)]
    assert found is not None, outcomes["errors"]
    login = estate["app"] if who == "owner" else "postgres"
    if recorded is None:
        assert found["ddl"] == []
    else:
        assert list(recorded) + [login] in found["ddl"], found["ddl"]
    if later:
        assert found["rows"] and all(row == [later[1], later[2], login] for row in found["rows"]), found["rows"]
        assert [later[1], later[2]] in found["registry"]
    if recorded and recorded[0] in ("DROP TABLE", "DROP SCHEMA", "DROP OWNED"):
        assert [recorded[1], recorded[2]] not in found["registry"]
    assert found["chain_ok"] is True


def test_uninstall_works_in_the_same_setup_and_keeps_the_log(pg_all, estate, db):
    removed = succeeded(pg_all.module("audit_trail", dict(database=db, state="absent")))
    assert sorted(removed["removed"]) == ["s.sales", "s.st", "s.t"]
    assert pg_all.psql("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'pgtrail\\_audit\\_%'", db=db) == "0"
    assert pg_all.psql("SELECT count(*) FROM pg_event_trigger", db=db) == "0"
    assert int(pg_all.psql("SELECT count(*) FROM audit.audit_log", db=db)) > estate["mark"]
    run_as(pg_all, estate["app"], db, "DROP TABLE s.t")


def test_a_renamed_table_is_listed_under_its_new_name_and_a_table_left_out_leaves_the_trail(pg_all, estate, db):
    run_as(pg_all, estate["app"], db, "ALTER TABLE s.t RENAME TO t_renamed")
    tables = ["s.t_renamed", "s.sales"]
    result = succeeded(pg_all.module("audit_trail", dict(database=db, tables=tables, hash_chain=True)))
    assert (result["added"], result["updated"], result["removed"]) == ([], ["s.t_renamed"], ["s.st"])
    assert outcome(pg_all, estate, db)["registry"] == [["s", "sales"], ["s", "t_renamed"]]
    assert pg_all.psql("SELECT count(*) FROM pg_trigger WHERE tgrelid = 's.st'::regclass", db=db) == "0"
    run_as(pg_all, estate["app"], db, "UPDATE s.st SET n = 3; DROP TABLE s.st; INSERT INTO s.t_renamed VALUES (1, 1)")
    found = outcome(pg_all, estate, db)
    assert found["rows"] == [["s", "t_renamed", estate["app"]]]
    assert ["DROP TABLE", "s", "st", estate["app"]] not in found["ddl"]
    again = succeeded(pg_all.module("audit_trail", dict(database=db, tables=tables, hash_chain=True)))
    assert again["changed"] is False


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE s.t DISABLE TRIGGER pgtrail_audit_row",
        "DROP TRIGGER pgtrail_audit_row ON s.t",
        "ALTER TRIGGER pgtrail_audit_row ON s.t RENAME TO quiet",
        "DROP TRIGGER pgtrail_audit_truncate ON s.sales_2025",
        "ALTER TABLE s.t RENAME TO t_renamed; DROP TRIGGER pgtrail_audit_truncate ON s.t_renamed",
        "CREATE TABLE s.sales_2026 PARTITION OF s.sales FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');"
        "ALTER TABLE s.sales_2026 DISABLE TRIGGER pgtrail_audit_row",
    ],
    ids=["disable", "drop", "rename-trigger", "drop-on-partition", "drop-after-rename", "disable-on-new-partition"],
)
def test_what_weakens_the_trail_is_still_refused_to_the_owner(pg_all, estate, refusals_db, statement):
    with pytest.raises(AssertionError, match="only a superuser may weaken the audit trail"):
        run_as(pg_all, estate["app"], refusals_db, "BEGIN;" + statement + "; COMMIT")


def readme_blocks():
    """The code blocks of docs/operations.md's "Migrations and partitions", as (language, text)."""
    text = (ROOT / "docs" / "operations.md").read_text()
    section = re.split(r"\n##+ ", text.split("\n## Migrations and partitions", 1)[1], maxsplit=1)[0]
    return re.findall(r"```(\w+)\n(.*?)```", section, re.S)


def test_the_readme_example_runs_as_shown(pg_all, estate, db):
    (_sql, migration), (_sql2, query), (_text, shown), (_text2, refusal) = readme_blocks()
    app = estate["app"]
    run_as(pg_all, app, db, migration)
    rows = pg_all.psql(query.replace("'app_owner'", "'%s'" % app), db=db).splitlines()
    expected = ["|".join(cell.strip() for cell in line.split("|")) for line in shown.splitlines()[2:]]
    assert rows == expected
    statement, error = refusal.strip().splitlines()
    with pytest.raises(AssertionError) as refused:
        run_as(pg_all, app, db, statement.split("=> ", 1)[1])
    assert error in str(refused.value)
