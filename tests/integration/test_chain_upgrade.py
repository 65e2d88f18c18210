"""Chain v1 upgraded in place by the next audit_trail run (migration 3, docs/chain-v2.md section 5),
over a real v1 trail: installed by the last release that shipped v1 (this repository at V1_RELEASE,
run as a collection of its own). Nothing is lost, every v1 row keeps its position and hash and
still verifies (against the head exported before the upgrade too), later rows go to v2 blocks,
and a long transaction on the log makes the upgrade wait without queueing writers behind it.
"""

import subprocess
import threading
import time

import pytest
from pgaudit_testlib import Objects, run_as, succeeded
from testbed import ROOT

# The last commit whose audit_trail installs chain v1.
V1_RELEASE = "fe9fee183cad1a3ac8a954b07634f3fd0efc479c"


@pytest.fixture(scope="module")
def v1_collection(tmp_path_factory):
    """ANSIBLE_COLLECTIONS_PATH holding pgtrail.audit as of V1_RELEASE."""
    root = tmp_path_factory.mktemp("v1")
    target = root / "ansible_collections" / "pgtrail" / "audit"
    target.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", V1_RELEASE, "plugins", "galaxy.yml", "meta"],
                             capture_output=True, check=False)  # fmt: skip
    if archive.returncode != 0:
        pytest.skip("the v1 release %s is not in this checkout's history" % V1_RELEASE[:12])
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return str(root)


@pytest.fixture
def objects(pg):
    made = Objects(pg)
    yield made
    made.drop()


def v1_install(pg, monkeypatch, v1_collection, **args):
    with monkeypatch.context() as patched:
        patched.setenv("ANSIBLE_COLLECTIONS_PATH", v1_collection)
        return succeeded(pg.module("audit_trail", args))


def log_rows(pg, db):
    return pg.psql("SELECT id, chain_seq, encode(row_hash, 'hex') FROM audit.audit_log ORDER BY id", db=db)


def test_a_v1_chain_is_upgraded_in_place_and_its_rows_still_verify(pg, objects, monkeypatch, v1_collection):
    db = objects.database("pgt_chain_v1")
    app = objects.role("pgt_v1_app", login=True)
    pg.psql('CREATE TABLE t (id int PRIMARY KEY, v text); ALTER TABLE t OWNER TO "%s"' % app, db=db)
    installed = v1_install(pg, monkeypatch, v1_collection, database=db, tables=["t"], hash_chain=True)
    assert installed["schema_version"] == 2
    pg.psql(
        "INSERT INTO t VALUES (1, 'a'), (2, 'b'); UPDATE t SET v = 'c' WHERE id = 1;"
        # v1 leaves a REPEATABLE READ writer's row unsealed: the upgrade's last v1 seal takes it
        "BEGIN ISOLATION LEVEL REPEATABLE READ; INSERT INTO t VALUES (3, 'rr'); COMMIT",
        db=db,
    )
    assert pg.psql("SELECT count(*) FROM audit.audit_log WHERE chain_seq IS NULL", db=db) == "1"
    exported = pg.psql("SELECT head_seq || ',' || head_hash FROM audit.verify_chain()", db=db).split(",")
    v1_sealed = log_rows(pg, db)

    # A long transaction holds the log (ROW EXCLUSIVE): the upgrade waits for it, in short tries.
    holder = subprocess.Popen(
        ["docker", "exec", "-i", "-u", "postgres", pg.name, "psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-d", db],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    holder.stdin.write(
        "BEGIN ISOLATION LEVEL REPEATABLE READ; INSERT INTO t VALUES (4, 'long'); SELECT pg_sleep(8); COMMIT;\n"
    )
    holder.stdin.close()
    for _attempt in range(50):
        if pg.psql("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND datname = '%s'" % db) == "1":
            break
        time.sleep(0.2)
    upgraded = {}
    runner = threading.Thread(
        target=lambda: upgraded.update(pg.module("audit_trail", dict(database=db, tables=["t"], hash_chain=True)))
    )
    runner.start()
    # Writers are not queued behind the waiting upgrade for longer than one of its tries.
    time.sleep(2)
    started = time.monotonic()
    run_as(pg, app, db, "INSERT INTO t VALUES (5, 'meanwhile')")
    assert time.monotonic() - started < 5
    runner.join(timeout=180)
    holder.wait(timeout=60)
    assert holder.returncode == 0, holder.stderr.read()
    succeeded(upgraded)
    assert upgraded["schema_version"] == 3 and upgraded["changed"] is True
    assert pg.psql("SELECT string_agg(version::text, ',' ORDER BY version) FROM audit.schema_version", db=db) == "1,2,3"
    # v1's writer path is gone: no sealing trigger, no v1 sealer; v1's verifier stays for block 0.
    assert pg.psql("SELECT count(*) FROM pg_trigger WHERE tgname = 'pgtrail_chain_seal'", db=db) == "0"
    assert (
        pg.psql(
            "SELECT string_agg(proname, ',' ORDER BY proname) FROM pg_proc WHERE pronamespace = 'audit'::regnamespace "
            "AND proname IN ('seal', 'seal_chain', 'seal_chain_at_commit', 'verify_chain')",
            db=db,
        )
        == "seal,verify_chain"
    )
    # Every row written before the switch was sealed by v1, once (the run's own DDL rows after it
    # are v2's); v1's rows kept their hashes.
    assert pg.psql("SELECT count(*) FROM audit.audit_log WHERE chain_seq IS NULL AND kind = 'row'", db=db) == "0"
    after = log_rows(pg, db).splitlines()
    for line in v1_sealed.splitlines():
        if line.split("|")[1]:
            assert line in after
    block0 = pg.psql("SELECT last_pos || ',' || encode(root, 'hex') FROM audit.chain_block WHERE block = 0", db=db)
    assert block0 == pg.psql("SELECT seq || ',' || encode(hash, 'hex') FROM audit.chain_head", db=db)

    # Later rows go to v2 blocks, after v1's positions; both segments verify, with v1's exported head.
    pg.psql(
        "INSERT INTO t VALUES (6, 'v2'); BEGIN ISOLATION LEVEL REPEATABLE READ; UPDATE t SET v = 'x'; COMMIT", db=db
    )
    result = succeeded(
        pg.module("chain_verify", dict(database=db, expected_head=dict(seq=int(exported[0]), hash=exported[1])))
    )
    total = int(pg.psql("SELECT count(*) FROM audit.audit_log", db=db))
    assert result["ok"] is True and result["unsealed"] == 0, result["reason"]
    assert result["checked"] == total == result["head"]["size"] and result["sealed"] == total - int(
        block0.split(",")[0]
    )
    assert result["head"]["origin"].startswith("pgtrail.audit/chain/") and result["head"]["block"] == 1
    assert pg.psql("SELECT count(*) FROM audit.audit_log WHERE chain_seq IS NULL", db=db) == str(result["sealed"])
    # The next run changes nothing.
    assert succeeded(pg.module("audit_trail", dict(database=db, tables=["t"], hash_chain=True)))["changed"] is False

    # A v1 row edited after the upgrade is caught at its v1 position.
    pg.psql(
        "BEGIN; SET LOCAL pgtrail_audit.retention = 'on'; UPDATE audit.audit_log SET actor_id = 'forged' "
        "WHERE chain_seq = 2; COMMIT",
        db=db,
    )
    caught = succeeded(pg.module("chain_verify", dict(database=db)))
    assert caught["ok"] is False and caught["broken"]["position"] == 2, caught["reason"]
    assert "was changed after it was sealed" in caught["reason"]
