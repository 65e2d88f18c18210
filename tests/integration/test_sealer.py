"""The sealer's systemd service, installed by the audit_triggers role: one per hash-chained
database, a psql session that seals every second, started again after each error for good (past
systemd's start limit), gone when the database's chain is no longer wanted; the timers of earlier
versions are removed. A standby's sealer is proven on a real standby, promoted, in
test_site_playbook.

Until chain v2's <schema>.seal() is merged (h-chain-sql), the sealer is proven against a stand-in
seal() in a scratch schema that counts its calls and can be made to fail; the real test (a row
written with no write after it is sealed within 5 s) skips, naming why, while seal() is absent.
"""

import json
import time

import pytest
from pgaudit_testlib import Objects, chain_v2_merged, unique
from testbed import run_playbook

# A database name that needs systemd's escaping, ExecStart's quoting and psql's conninfo quoting.
TRICKY = "pgt seal-db's %h $x"
# The unit and the role's tasks do not depend on the major, and seal() itself is
# proven on every major by test_tamper and test_checkpoints: one major is enough here.
pytestmark = pytest.mark.parametrize("pg", [17], indirect=True, ids=["pg17"])
STANDIN = "pgtrail_standin"


def sealer_playbook(tmp_path, tasks_from):
    """A play that reads the server (as the role's main does) and runs one task file of the role."""
    path = tmp_path / "sealer.yml"
    path.write_text(
        json.dumps(
            [
                {
                    "hosts": "postgres",
                    "gather_facts": False,
                    "tasks": [
                        {
                            "ansible.builtin.include_role": {
                                "name": "pgtrail.audit.pgaudit",
                                "tasks_from": "server.yml",
                                "public": True,
                            }
                        },
                        {
                            "ansible.builtin.include_role": {
                                "name": "pgtrail.audit.audit_triggers",
                                "tasks_from": tasks_from,
                            }
                        },
                    ],
                }
            ]
        )
    )
    return str(path)


def unit_names(pg):
    return sorted(pg.sh("ls /etc/systemd/system | grep '^pgtrail-seal-' || true").stdout.split())


def calls(pg, db):
    return int(pg.psql("SELECT last_value FROM %s.attempts" % STANDIN, db=db))


def journal(pg, unit, since):
    """The journal's lines about the unit (systemd's and its processes') since a Unix time."""
    return pg.sh("journalctl -u '%s.service' --since @%s --no-pager -q -o cat" % (unit, since)).stdout.strip()


@pytest.fixture
def standin_db(pg):
    made = Objects(pg)
    db = unique(TRICKY)
    pg.psql('CREATE DATABASE "%s"' % db)
    made.databases.append(db)
    # The stand-in: counts every call (a sequence is not rolled back) and fails while fail.on is true.
    pg.psql(
        """
        CREATE SCHEMA %(s)s;
        CREATE SEQUENCE %(s)s.attempts;
        CREATE TABLE %(s)s.fail (on_ boolean NOT NULL);
        INSERT INTO %(s)s.fail VALUES (false);
        CREATE FUNCTION %(s)s.seal() RETURNS bigint LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM nextval('%(s)s.attempts');
          IF (SELECT on_ FROM %(s)s.fail) THEN RAISE EXCEPTION 'stand-in seal() fails'; END IF;
          RETURN 0;
        END $$;
        SELECT nextval('%(s)s.attempts');
        """
        % dict(s=STANDIN),
        db=db,
    )
    yield db
    # Units a failed test left behind would stay connected and hold up the drop.
    pg.sh(
        'cd /etc/systemd/system && for u in pgtrail-seal-*.service; do grep -qF %s "$u" || continue;'
        ' systemctl disable --now "$u"; rm -f "$u"; done;'
        " systemctl daemon-reload" % STANDIN,
        check=False,
    )
    made.drop()


def sessions(pg, db):
    """The backend start time of each session of the sealer in the database."""
    return pg.psql(
        "SELECT backend_start FROM pg_stat_activity WHERE application_name = 'pgtrail-sealer'"
        " AND datname = current_database() ORDER BY 1",
        db=db,
    ).split("\n")


def test_the_sealer_seals_every_second_in_one_session_survives_failures_and_goes_with_the_chain(
    pg, standin_db, tmp_path
):
    db = standin_db
    wanted = dict(audit_triggers_databases={db: {"hash_chain": True}}, audit_triggers_schema=STANDIN)
    playbook = sealer_playbook(tmp_path, "sealer.yml")
    before = unit_names(pg)

    check = run_playbook(playbook, [pg], group_vars=wanted, check=True)
    assert check.rc == 0, check.output
    assert check.changed_tasks(pg.name), "check mode reports nothing to install"
    assert unit_names(pg) == before, "check mode wrote units"

    run = run_playbook(playbook, [pg], group_vars=wanted)
    assert run.rc == 0, run.output
    # The unit is named by systemd's own escaping of major/cluster/database.
    unit = "pgtrail-seal-" + pg.sh("systemd-escape '%d/main/%s'" % (pg.major, db.replace("'", "'\\''"))).stdout.strip()
    assert unit_names(pg) == sorted(before + [unit + ".service"])
    assert pg.sh("stat -c '%%U %%G %%a' '/etc/systemd/system/%s.service'" % unit).stdout.split() == [
        "root",
        "root",
        "644",
    ]
    assert pg.sh("systemctl is-enabled '%s.service'" % unit).stdout.strip() == "enabled"

    again = run_playbook(playbook, [pg], group_vars=wanted)
    assert again.rc == 0, again.output
    assert again.changed_tasks(pg.name) == [], "a second run changed something"

    # Every second, in one session (a psql and a connection per seal cost 4% of a core): at least
    # 3 calls in 4 s, and not a line in the journal for them.
    start, since, session = calls(pg, db), pg.sh("date +%s").stdout.strip(), sessions(pg, db)
    time.sleep(4)
    assert calls(pg, db) - start >= 3, pg.sh("journalctl -u '%s.service' -n 20 --no-pager" % unit).stdout
    assert journal(pg, unit, since) == ""
    assert len(session) == 1 and sessions(pg, db) == session

    # Failing for 8 s (past systemd's default start limit of 5 starts in 10 s), then working
    # again: systemd keeps starting it, a second after each failure.
    pg.psql("UPDATE %s.fail SET on_ = true" % STANDIN, db=db)
    start, since = calls(pg, db), pg.sh("date +%s").stdout.strip()
    time.sleep(8)
    assert calls(pg, db) - start >= 6
    # What goes wrong stays in the journal: psql's error and the failed result.
    failing = journal(pg, unit, since)
    assert "stand-in seal() fails" in failing and "Failed with result" in failing, failing
    pg.psql("UPDATE %s.fail SET on_ = false" % STANDIN, db=db)
    time.sleep(2.5)
    start = calls(pg, db)
    time.sleep(2)
    assert calls(pg, db) - start >= 1
    assert pg.sh("systemctl is-active '%s.service'" % unit).stdout.strip() == "active"
    assert "start-limit-hit" not in pg.sh("journalctl -u '%s.service' --no-pager" % unit).stdout

    # hash_chain off: the units are stopped and removed, and calls stop.
    off = run_playbook(playbook, [pg], group_vars=dict(wanted, audit_triggers_databases={db: {"hash_chain": False}}))
    assert off.rc == 0, off.output
    assert unit_names(pg) == before
    start = calls(pg, db)
    time.sleep(2.5)
    assert calls(pg, db) == start


def test_an_interval_below_one_second_is_refused_and_nothing_is_installed(pg, standin_db, tmp_path):
    before = unit_names(pg)
    run = run_playbook(
        sealer_playbook(tmp_path, "sealer.yml"),
        [pg],
        group_vars=dict(audit_triggers_databases={standin_db: {"hash_chain": True}}, audit_triggers_schema=STANDIN),
        extra_vars={"audit_triggers_seal_interval": "0"},
    )
    assert run.rc != 0
    assert "audit_triggers_seal_interval must be at least 1 second" in run.failure(pg.name), run.output
    assert unit_names(pg) == before


@pytest.mark.skipif(not chain_v2_merged(), reason="chain v2's seal() (h-chain-sql's branch) is not merged yet")
def test_a_row_written_with_no_write_after_it_is_sealed_within_5_seconds(pg, tmp_path):
    """Needs chain v2's <schema>.seal() (h-chain-sql's branch): the whole role, then one write."""
    made = Objects(pg)
    db = made.database("pgt_seal_real")
    try:
        pg.psql("CREATE TABLE t (id int PRIMARY KEY)", db=db)
        playbook = tmp_path / "role.yml"
        playbook.write_text(
            json.dumps([{"hosts": "postgres", "gather_facts": False, "roles": ["pgtrail.audit.audit_triggers"]}])
        )
        run = run_playbook(
            str(playbook), [pg], group_vars=dict(audit_triggers_databases={db: {"tables": ["t"], "hash_chain": True}})
        )
        assert run.rc == 0, run.output
        if pg.psql("SELECT to_regprocedure('audit.seal()') IS NULL", db=db) == "t":
            pytest.skip("audit.seal() is absent: chain v2's database side (h-chain-sql) is not merged yet")
        txid = pg.psql("BEGIN; INSERT INTO t VALUES (1); SELECT txid_current(); COMMIT;", db=db)
        deadline = time.monotonic() + 5
        sealed = "f"
        while time.monotonic() < deadline and sealed != "t":
            time.sleep(0.2)
            # The snapshot rule: the row is sealed once its transaction ended in the last block's snapshot.
            sealed = pg.psql(
                "SELECT %s < b.snap_xmax AND NOT %s = ANY (b.snap_xip) FROM audit.chain_block b"
                " ORDER BY b.block DESC LIMIT 1" % (txid, txid),
                db=db,
            )
        assert sealed == "t", "row of transaction %s not sealed within 5 s" % txid
    finally:
        # The role's units for this database go with it.
        run_playbook(str(playbook), [pg], group_vars=dict(audit_triggers_databases={}))
        made.drop()


def planned_sealer_playbook(tmp_path):
    """As site.yml does: the read lists the sealer's units (audit_plan's sealer_units) and its plan
    holds for sealer.yml, which skips what is as its tasks would leave it."""
    path = tmp_path / "planned.yml"
    read = {
        "ansible.builtin.include_role": {"name": "pgtrail.audit.pgaudit", "tasks_from": "server.yml", "public": True},
        "vars": {"__pgaudit_request": {"sealer_units": True}},
    }
    keep = {"ansible.builtin.set_fact": {"__pgaudit_trail_plan": "{{ __pgaudit_read.plan }}"}}
    sealer = {"ansible.builtin.include_role": {"name": "pgtrail.audit.audit_triggers", "tasks_from": "sealer.yml"}}
    path.write_text(json.dumps([{"hosts": "postgres", "gather_facts": False, "tasks": [read, keep, sealer]}]))
    return str(path)


WRITE_SERVICE = "Write the sealer's service of each hash-chained database (the loop label names it)"
START = "Enable and start the sealer of each hash-chained database"
STOP_UNWANTED = "Stop and disable each sealer unit that is no longer wanted"
REMOVE_UNWANTED = "Remove the unit files of each sealer that is no longer wanted"
# The sealer of earlier versions: a timer that started the (oneshot) service every second.
OLD_TIMER = "[Timer]\nOnActiveSec=1s\nOnUnitActiveSec=1s\n[Install]\nWantedBy=timers.target\n"


# Each kind of drift the read must see; the steps it makes run fix it, and --check --diff says so.
@pytest.mark.parametrize(
    "drift, changed",
    [
        ("", []),
        ("sed -i 's/^RestartSec=.*/RestartSec=9s/' {unit}.service", [WRITE_SERVICE, START]),
        ("chmod 0600 {unit}.service", [WRITE_SERVICE, START]),
        ("chown postgres {unit}.service", [WRITE_SERVICE, START]),
        ("systemctl disable {unit}.service", [START]),
        ("systemctl stop {unit}.service", [START]),
        (
            "printf '%s' > {unit}.timer && systemctl daemon-reload && systemctl enable --now {unit}.timer" % OLD_TIMER,
            [STOP_UNWANTED, REMOVE_UNWANTED],
        ),
        (
            "cp {unit}.service {prefix}gone.service && systemctl daemon-reload && systemctl enable --now {prefix}gone",
            [STOP_UNWANTED, REMOVE_UNWANTED],
        ),
    ],
    ids=[
        "steady",
        "service-edited",
        "service-mode",
        "service-owner",
        "service-disabled",
        "service-stopped",
        "timer-of-an-earlier-version",
        "service-of-a-database-no-longer-chained",
    ],
)
def test_the_read_of_the_units_skips_what_is_kept_and_runs_what_drifted(pg, standin_db, tmp_path, drift, changed):
    from test_site_playbook import remote_calls

    wanted = dict(audit_triggers_databases={standin_db: {"hash_chain": True}}, audit_triggers_schema=STANDIN)
    playbook = planned_sealer_playbook(tmp_path)
    before = unit_names(pg)
    assert run_playbook(playbook, [pg], group_vars=wanted).rc == 0
    (unit,) = [name[: -len(".service")] for name in unit_names(pg) if name not in before]
    prefix = unit[: unit.rindex("-") + 1]
    try:
        pg.sh("cd /etc/systemd/system && " + (drift or "true").format(unit="'%s'" % unit, prefix=prefix))
        drifted = unit_names(pg)
        check = run_playbook(playbook, [pg], group_vars=wanted, check=True, diff=True)
        assert check.rc == 0, check.output
        assert unit_names(pg) == drifted, "check mode changed the units"
        real = run_playbook(playbook, [pg], group_vars=wanted)
        assert real.rc == 0, real.output
        assert [name.split(" : ")[-1] for name in real.changed_tasks(pg.name)] == changed
        # In check mode a rewritten unit is not restarted (systemd has not got it): the write says so.
        written = WRITE_SERVICE in changed
        assert [name.split(" : ")[-1] for name in check.changed_tasks(pg.name)] == [
            name for name in changed if not (written and name == START)
        ]
        if not drift:
            # Only the read runs on the host.
            assert len(remote_calls(real, pg.name)) == 1, remote_calls(real, pg.name)
        again = run_playbook(playbook, [pg], group_vars=wanted)
        assert again.rc == 0 and again.changed_tasks(pg.name) == [], again.output
        assert len(remote_calls(again, pg.name)) == 1, remote_calls(again, pg.name)
        assert unit_names(pg) == sorted(before + [unit + ".service"])
        assert pg.sh("systemctl is-active '%s.service'" % unit).stdout.strip() == "active"
    finally:
        pg.sh(
            "cd /etc/systemd/system && systemctl disable --now '%sgone.service' '%s.timer';"
            " rm -f '%sgone'.* '%s.timer'" % (prefix, unit, prefix, unit),
            check=False,
        )
