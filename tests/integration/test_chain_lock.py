"""Locks and transactions other roles can hold never stop the hash chain: an application role or
a reader holding every lock it can (an advisory key, the log in ACCESS SHARE mode, row locks on
its table), or an idle transaction in another database, leaves seal() sealing at once and
chain_verify quick; writers under REPEATABLE READ and SERIALIZABLE are sealed after their
COMMIT; a lock only the owner or a superuser can take makes chain_verify give up after
lock_timeout, naming the session that holds it.
"""

import subprocess
import time

import pytest
from pgaudit_testlib import PASSWORD, Objects, ensure_pgaudit_loaded, run_as, succeeded, unique

# The advisory key the sealer used to take ('pgtrchn'): any role can take any advisory key.
OLD_KEY = 0x7067747263686E
HOLDER_APP = "pgt-lock-holder"


@pytest.fixture(scope="module")
def estate(pg):
    made = Objects(pg)
    ensure_pgaudit_loaded(pg)
    db = made.database("pgt_lock")
    app = made.role("pgt_lock_app", login=True)
    reader = made.role("pgt_lock_reader", login=True)
    owner = unique("pgt_lock_owner")
    made.adopt_role(owner)
    pg.psql('CREATE TABLE t (id int PRIMARY KEY, n int); ALTER TABLE t OWNER TO "%s"' % app, db=db)
    succeeded(pg.module("audit_trail", dict(database=db, tables=["t"], app_roles=[app], hash_chain=True)))
    succeeded(pg.module("audit_lockdown", dict(database=db, owner=owner, app_roles=[app], reader_roles=[reader])))
    yield dict(db=db, app=app, reader=reader)
    made.drop()


def hold(pg, role, db, statements, seconds=45, name=HOLDER_APP, event="PgSleep"):
    """A session of role (over TCP, application_name ``name``) that runs statements in one
    transaction and then sleeps holding what it got (returned once it waits on ``event``); returns
    the process."""
    script = "BEGIN;\n%s;\nSELECT pg_sleep(%d);\nCOMMIT;\n" % (";\n".join(statements), seconds)
    command = ["docker", "exec", "-i", "-e", "PGPASSWORD=%s" % PASSWORD, "-e", "PGAPPNAME=%s" % name]
    if role == "postgres":
        command += ["-u", "postgres", pg.name, "psql", "-d", db]
    else:
        command += [pg.name, "psql", "-h", "127.0.0.1", "-U", role, "-d", db]
    command += ["-XAtq", "-v", "ON_ERROR_STOP=1"]
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    process.stdin.write(script)
    process.stdin.close()
    for _attempt in range(50):
        if pg.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = '%s' AND wait_event = '%s'"
                   % (name, event)) == "1":  # fmt: skip
            return process
        assert process.poll() is None, process.stderr.read()
        time.sleep(0.2)
    raise AssertionError("the holding session did not get its locks")


def release(pg, process, name=HOLDER_APP):
    pg.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '%s'" % name)
    process.wait(timeout=30)


def seal(pg, db):
    """The sealer as its service runs it: a superuser over peer authentication, lock_timeout 2 s."""
    started = time.monotonic()
    sealed = int(pg.psql("SET lock_timeout = '2s'; SELECT audit.seal()", db=db))
    assert time.monotonic() - started < 10
    return sealed


# Every lock or transaction an application role or a reader can hold, as that role (and in which
# database: None is the trail's).
LOCKS_OTHERS_CAN_TAKE = [
    pytest.param("app", None, ["SELECT pg_advisory_lock(%d)" % OLD_KEY], id="app-advisory-key"),
    pytest.param(
        "app",
        None,
        ["SELECT * FROM t FOR UPDATE", "LOCK TABLE t IN ACCESS EXCLUSIVE MODE"],
        id="app-row-and-table-locks",
    ),  # fmt: skip
    pytest.param("reader", None, ["LOCK TABLE audit.audit_log IN ACCESS SHARE MODE"], id="reader-lock-table-log"),
    pytest.param(
        "reader",
        None,
        ["SELECT pg_advisory_lock(%d)" % OLD_KEY, "SELECT count(*) FROM audit.audit_log"],
        id="reader-key-and-long-read",
    ),
    # An xid held open in another database holds back pg_snapshot_xmin for the whole cluster.
    pytest.param("reader", "postgres", ["SELECT pg_catalog.txid_current()"], id="reader-idle-xid-other-database"),
]


@pytest.mark.parametrize("who, where, statements", LOCKS_OTHERS_CAN_TAKE)
def test_a_lock_another_role_holds_neither_stops_sealing_nor_hangs_verification(pg, estate, who, where, statements):
    db, app = estate["db"], estate["app"]
    holder = hold(pg, estate[who], where or db, statements)
    try:
        key = int(time.time() * 1000) % 1000000
        if who == "app" and "FOR UPDATE" in statements[0]:
            pg.psql("SELECT audit.log_event('PING', 'lock-test')", db=db)
        else:
            run_as(pg, app, db, "INSERT INTO t VALUES (%d, 1)" % key)
        # Sealed by the next seal, not held back by the other session.
        assert seal(pg, db) >= 1
        started = time.monotonic()
        result = succeeded(pg.module("chain_verify", dict(database=db, lock_timeout=10)))
        assert time.monotonic() - started < 25
        assert result["ok"] is True and result["unsealed"] == 0, result["reason"]
    finally:
        release(pg, holder)


def test_writers_under_repeatable_read_and_serializable_are_sealed_after_their_commit(pg, estate):
    db, app = estate["db"], estate["app"]
    seal(pg, db)
    # The writers insert, then wait for a gate (an advisory lock a superuser session holds) before
    # their COMMIT: open as long as the test needs, whatever the machine's speed.
    gate = hold(pg, "postgres", db, ["SELECT pg_advisory_lock(4242)"], name="pgt-gate")
    writers = [
        hold(pg, app, db, ["SET TRANSACTION ISOLATION LEVEL %s" % level, "INSERT INTO t VALUES (%d, 2)" % key,
                           "SELECT pg_advisory_lock_shared(4242)"], seconds=0, name="pgt-writer-%d" % key,
             event="advisory")
        for level, key in (("REPEATABLE READ", 900001), ("SERIALIZABLE", 900002))
    ]  # fmt: skip
    # While they run: what commits after them is sealed, theirs waits (not visible, not lost).
    run_as(pg, app, db, "INSERT INTO t VALUES (900003, 3)")
    assert seal(pg, db) == 1
    release(pg, gate, "pgt-gate")
    for writer in writers:
        writer.wait(timeout=60)
        assert writer.returncode == 0, writer.stderr.read()
    assert seal(pg, db) == 2
    result = succeeded(pg.module("chain_verify", dict(database=db)))
    assert result["ok"] is True and result["unsealed"] == 0 and result["sealed"] == 0, result["reason"]
    # The sealer itself refuses to run where its snapshot would predate its lock.
    refused = pg.psql("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT audit.seal(); COMMIT", db=db, check=False)
    assert refused.returncode != 0 and "runs in READ COMMITTED only, not repeatable read" in refused.stderr


def test_a_lock_on_the_chain_head_makes_chain_verify_give_up_in_time_and_name_the_session(pg, estate):
    db = estate["db"]
    run_as(pg, estate["app"], db, "INSERT INTO t VALUES (-1, 1)")
    # Only a superuser or the trail's owner can lock the head's row: here a superuser session.
    holder = hold(pg, "postgres", db, ["SELECT seq FROM audit.chain_head FOR UPDATE"])
    try:
        pid = pg.psql("SELECT pid FROM pg_stat_activity WHERE application_name = '%s'" % HOLDER_APP)
        started = time.monotonic()
        result = pg.module("chain_verify", dict(database=db, lock_timeout=3))
        assert time.monotonic() - started < 25
        assert result["failed"] and "waited 3 second(s) (lock_timeout) for a lock" in result["msg"], result["msg"]
        assert "pid %s (role postgres, application '%s'" % (pid, HOLDER_APP) in result["msg"]
        assert [(str(b["pid"]), b["role"], b["application_name"]) for b in result["blockers"]] == [
            (pid, "postgres", HOLDER_APP)
        ]
    finally:
        release(pg, holder)
    assert succeeded(pg.module("chain_verify", dict(database=db)))["ok"] is True


def test_members_of_pg_maintain_who_can_lock_the_log_are_reported(pg, estate):
    if pg.major < 17:
        pytest.skip("MAINTAIN and pg_maintain arrived in PostgreSQL 17")
    db, reader = estate["db"], estate["reader"]
    info = succeeded(pg.module("audit_info", dict(databases=[db], verify_chain=False)))
    assert info["lockdown"]["databases"][db]["lockers"] == []
    pg.psql('GRANT pg_maintain TO "%s"' % reader)
    try:
        # It can: LOCK TABLE needs MAINTAIN since PostgreSQL 17.
        assert run_as(pg, reader, db, "BEGIN; LOCK TABLE audit.audit_log IN ACCESS EXCLUSIVE MODE; ROLLBACK") == ""
        info = succeeded(pg.module("audit_info", dict(databases=[db], verify_chain=False)))
        assert info["lockdown"]["databases"][db]["lockers"] == [reader]
    finally:
        pg.psql('REVOKE pg_maintain FROM "%s"' % reader)
