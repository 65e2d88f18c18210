"""The owner's own DDL on audited tables, with the trail locked down, in a schema that neither
PUBLIC nor the trail's owner may use: every statement works for the table's (non-superuser)
owner and for a superuser, is recorded as a 'ddl' row, and later writes log under the table's
current name. Uninstall and removing a table from `tables:` work in the same setup, and what
weakens the trail is still refused.

One template database per host holds the setup (the module runs once); each case runs in a
fresh copy of it.
"""

import json

import pytest
from pgaudit_testlib import PASSWORD, Objects, run_as, succeeded, unique
from testbed import docker

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
        "temp-and-audited-table-in-one-statement",
        "CREATE TEMP TABLE scratch (id int); DROP TABLE scratch, s.t",
        ("DROP TABLE", "s", "t"),
        None,
        15,
    ),
]

# What one case leaves in its database, read in one query: the new log rows and the registry.
OUTCOME = """
SELECT json_build_object(
  'ddl', (SELECT coalesce(json_agg(json_build_array(action, schema_name, table_name, login_role) ORDER BY id), '[]')
            FROM audit.audit_log WHERE id > {mark} AND kind = 'ddl'),
  'rows', (SELECT coalesce(json_agg(json_build_array(schema_name, table_name, login_role) ORDER BY id), '[]')
             FROM audit.audit_log WHERE id > {mark} AND kind = 'row'),
  'registry', (SELECT coalesce(json_agg(json_build_array(schema_name, table_name)
                                         ORDER BY schema_name, table_name), '[]')
                 FROM audit.audited_tables),
  'chain_ok', (SELECT ok FROM audit.verify_chain()))
"""


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


# One case in a shell script run as postgres in the container: a copy of the template, the
# statement and the later write as the role, what the log and registry hold, the copy dropped.
CASE_SCRIPT = """
echo '@@ {key}'
psql -XAtq -c 'CREATE DATABASE "{db}" TEMPLATE "{template}"' -c 'GRANT CREATE ON DATABASE "{db}" TO "{app}"' 2>&1
psql -XAtq -v ON_ERROR_STOP=1 {connect} -d '{db}' <<'PGTRAIL_SQL' 2>&1
{statements}
PGTRAIL_SQL
psql -XAtq -d '{db}' <<'PGTRAIL_SQL' 2>&1
{outcome}
PGTRAIL_SQL
psql -XAtq -c 'DROP DATABASE "{db}"' 2>&1
"""


@pytest.fixture(scope="module")
def outcomes(pg_all, estate):
    """Every case, as the owner and as a superuser, in one exec: {(case id, who): (output, outcome)}."""
    pg, app = pg_all, estate["app"]
    script = []
    for case_id, statement, _recorded, later, since in CASES:
        if pg.major < since:
            continue
        for who in ("owner", "superuser"):
            statements = [statement.format(app=app)] + ([later[0]] if later else [])
            script.append(
                CASE_SCRIPT.format(
                    key="%s %s" % (case_id, who),
                    db=unique("pgt_ddl"),
                    template=estate["template"],
                    app=app,
                    connect="-h 127.0.0.1 -U '%s'" % app if who == "owner" else "",
                    statements=";\n".join(statements) + ";",
                    outcome=OUTCOME.format(mark=estate["mark"]).strip(),
                )
            )
    result = docker(
        "exec", "-i", "-u", "postgres", "-e", "PGPASSWORD=%s" % PASSWORD, pg.name, "sh", "-s",
        input="".join(script), check=False,
    )  # fmt: skip
    found = {}
    for section in result.stdout.split("@@ ")[1:]:
        key, _newline, output = section.partition("\n")
        lines = output.strip().splitlines()
        data = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else None
        found[tuple(key.split(" "))] = (output, data)
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
    assert "ERROR" not in output and found is not None, output
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


def trail_triggers(pg, db):
    return pg.psql(
        "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'pgtrail\\_audit\\_%' AND tgrelid = 's.t'::regclass", db=db
    )


def test_uninstall_works_in_the_same_setup_and_keeps_the_log(pg_all, estate, db):
    removed = succeeded(pg_all.module("audit_trail", dict(database=db, state="absent")))
    assert sorted(removed["removed"]) == ["s.sales", "s.st", "s.t"]
    assert pg_all.psql("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'pgtrail\\_audit\\_%'", db=db) == "0"
    assert pg_all.psql("SELECT count(*) FROM pg_event_trigger", db=db) == "0"
    assert int(pg_all.psql("SELECT count(*) FROM audit.audit_log", db=db)) > estate["mark"]
    run_as(pg_all, estate["app"], db, "DROP TABLE s.t")


def test_a_table_dropped_from_tables_leaves_the_trail_in_the_same_setup(pg_all, estate, db):
    result = succeeded(pg_all.module("audit_trail", dict(database=db, tables=["s.sales", TABLES[2]], hash_chain=True)))
    assert result["removed"] == ["s.t"]
    assert trail_triggers(pg_all, db) == "0"
    assert outcome(pg_all, estate, db)["registry"] == [["s", "sales"], ["s", "st"]]
    run_as(pg_all, estate["app"], db, "INSERT INTO s.t VALUES (1, 1); DROP TABLE s.t")
    assert outcome(pg_all, estate, db)["rows"] == []


def test_a_renamed_table_listed_under_its_new_name_gets_its_triggers_in_step(pg_all, estate, db):
    run_as(pg_all, estate["app"], db, "ALTER TABLE s.t RENAME TO t_renamed")
    tables = ["s.t_renamed", "s.sales", TABLES[2]]
    result = succeeded(pg_all.module("audit_trail", dict(database=db, tables=tables, hash_chain=True)))
    assert result["updated"] == ["s.t_renamed"] and result["added"] == [] and result["removed"] == []
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
