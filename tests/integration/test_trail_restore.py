"""Backup and restore with the trail in place, by the README's commands (README: Backup and
restore): a full restore into an empty database, a data-only restore into a database the module
already built and locked down (with and without --disable-triggers), and the application
owner's nightly pg_dump after the lockdown. Each keeps every history row of the dump, every
trail trigger is ENABLE ALWAYS after the next run of the module, and the chain (v2, its blocks
restored with the log) verifies and goes on.
"""

import json

import pytest
from pgaudit_testlib import PASSWORD, Objects, succeeded, unique
from testbed import ROOT

from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.sql_chain import LEAF

# The documented commands (docs/operations.md: Backup and restore), for a database "shop" and
# its dump "shop.dump", as postgres; the test runs them as the page gives them.
OPERATIONS = (ROOT / "docs" / "operations.md").read_text()


def readme_command(prefix):
    """The one line of the page's backup and restore section that starts with prefix."""
    section = OPERATIONS.split("\n## Backup and restore", 1)[1].split("\n## ", 1)[0]
    (line,) = [line for line in section.splitlines() if line.startswith(prefix)]
    return line


SET_ASIDE = readme_command("psql -d shop -v ON_ERROR_STOP=1 -c 'BEGIN; LOCK ")
LOG_AGAIN = readme_command("psql -d shop -v ON_ERROR_STOP=1 -c 'BEGIN; ALTER TABLE audit.chain_block ENABLE ")
RESTORE_TRAIL = readme_command("pg_restore --list ")
RESTORE_DATA = readme_command("pg_restore --data-only --exclude-schema=audit ")
FULL = readme_command("createdb shop ")
NIGHTLY = readme_command("pg_dump --format=custom ")


@pytest.fixture(scope="module")
def estate(pg):
    """A locked-down, hash-chained trail with history, and a dump of it by postgres."""
    made = Objects(pg)
    app = made.role("pgt_rst_app", login=True)
    owner = unique("pgt_rst_owner")
    made.adopt_role(owner)
    source = made.database("pgt_rst_src")
    built = made.database("pgt_rst_built")
    for db in (source, built):
        pg.psql(
            'CREATE TABLE public.orders (id int PRIMARY KEY, item text); ALTER TABLE orders OWNER TO "%s"' % app, db=db
        )
        build(pg, db, owner, app)
    pg.psql(
        "INSERT INTO orders SELECT g, 'item ' || g FROM generate_series(1, 20) AS g;"
        "UPDATE orders SET item = 'changed' WHERE id <= 5; DELETE FROM orders WHERE id = 20;"
        "SELECT audit.seal();"
        # one row left unsealed (no seal after it), as a dump may find them
        "BEGIN ISOLATION LEVEL REPEATABLE READ; DELETE FROM orders WHERE id = 19; COMMIT;",
        db=source,
    )
    history = rows(pg, source)
    workdir = "/tmp/%s" % source
    pg.sh("install -d -o postgres %s" % workdir)
    yield dict(app=app, owner=owner, source=source, built=built, history=history, workdir=workdir, made=made)
    pg.sh("rm -rf %s" % workdir)
    made.drop()


def build(pg, db, owner, app):
    succeeded(pg.module("audit_trail", dict(database=db, tables=["public.orders"], hash_chain=True)))
    succeeded(pg.module("audit_lockdown", dict(database=db, owner=owner, app_roles=[app])))


def rows(pg, db):
    """{id: (leaf, kind, action)} of the log: the leaf is what the chain seals of a row."""
    out = pg.psql(
        "SELECT json_object_agg(id, json_build_array(encode(%s, 'hex'), kind, action)) FROM audit.audit_log AS l"
        % LEAF,
        db=db,
    )
    return json.loads(out)


def run(pg, workdir, db, command, env=""):
    """A README command, for database db and the dump in workdir, as postgres."""
    command = command.replace("shop.dump", "dump").replace("shop", db)
    return pg.sh("cd %s && %s%s" % (workdir, env, command), user="postgres")


def dump(pg, estate):
    run(pg, estate["workdir"], estate["source"], "pg_dump --format=custom --file=shop.dump shop")


CASES = ["full restore", "data-only", "data-only --disable-triggers", "nightly dump by the application owner"]


@pytest.mark.parametrize("case", CASES)
def test_a_restore_keeps_every_history_row_and_the_next_run_leaves_the_trail_whole(pg, estate, case):
    workdir, target = estate["workdir"], unique("pgt_rst_target")
    estate["made"].databases.append(target)
    if case.startswith("nightly"):
        # What a backup role needs, from audit_info; the application owner gets it.
        pg.psql('GRANT pg_read_all_data TO "%s"' % estate["app"])
        try:
            facts = succeeded(pg.module("audit_info", dict(databases=[estate["source"]], verify_chain=False)))
            backup = facts["backup"]["databases"][estate["source"]]
            assert "SELECT on audit.audit_log" in backup["needs"] and "USAGE on schema audit" in backup["needs"]
            assert estate["app"] in backup["roles"]
            nightly = NIGHTLY.replace("app_owner", estate["app"])
            run(pg, workdir, estate["source"], nightly, env="PGPASSWORD=%s " % PASSWORD)
        finally:
            pg.psql('REVOKE pg_read_all_data FROM "%s"' % estate["app"])
    else:
        dump(pg, estate)
    if case.startswith("data-only"):
        pg.psql('CREATE DATABASE "%s" TEMPLATE "%s"' % (target, estate["built"]))
        run(pg, workdir, target, SET_ASIDE)
        run(pg, workdir, target, RESTORE_TRAIL)
        run(pg, workdir, target, LOG_AGAIN)
        if case.endswith("--disable-triggers"):
            run(pg, workdir, target, RESTORE_DATA.replace("--data-only", "--data-only --disable-triggers"))
        else:
            run(pg, workdir, target, RESTORE_DATA)
    else:
        run(pg, workdir, target, FULL)
    assert pg.psql("SELECT count(*) FROM orders", db=target) == "18"

    trail = succeeded(pg.module("audit_trail", dict(database=target, tables=["public.orders"], hash_chain=True)))
    assert trail["failed"] is False
    # Every trail trigger is ENABLE ALWAYS, the log's and the blocks' insert-only guards too.
    assert pg.psql(
        "SELECT string_agg(DISTINCT tgenabled::text, '') FROM pg_trigger "
        "WHERE tgname LIKE 'pgtrail\\_audit\\_%' OR tgname = 'pgtrail_insert_only'",
        db=target,
    ) == ("A")
    # Every history row of the dump is there, unchanged.
    after = rows(pg, target)
    for row_id, (leaf, kind, action) in estate["history"].items():
        assert after.get(row_id) == [leaf, kind, action], (row_id, kind, action)
    # chain_verify seals what waits (the unsealed history row, the trail's own rows) and the
    # restored chain verifies; the trail goes on: a write is logged and sealed.
    verified = succeeded(pg.module("chain_verify", dict(database=target)))
    assert verified["ok"] is True and verified["unsealed"] == 0, verified["reason"]
    pg.psql("UPDATE orders SET item = 'after' WHERE id = 1", db=target)
    again = succeeded(pg.module("chain_verify", dict(database=target)))
    assert again["ok"] is True and again["sealed"] == 1 and again["head"]["origin"] == verified["head"]["origin"]
