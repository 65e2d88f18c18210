"""The canary, against a real host: it passes with timings on a healthy host, and fails naming the
host and what is missing when auditing is silently off (pgaudit.log switched off by a superuser,
a log that goes nowhere readable, a trail trigger gone); a scope set to none produces no line,
which the canary says is as declared.

One host for the whole module (site.yml with the example inventory); each case breaks one thing
and restores it.
"""

import re

import pytest
import yaml
from testbed import ROOT, docker, image_exists, run_playbook, start_host

MAJOR = 17
GROUP_VARS = yaml.safe_load((ROOT / "examples" / "inventory" / "group_vars" / "postgres.yml").read_text())


@pytest.fixture(scope="module")
def host():
    """A host converged by site.yml with the example inventory (the canary's role and table made)."""
    if not image_exists(MAJOR):
        pytest.skip("no PostgreSQL %d image" % MAJOR)
    made = start_host(MAJOR)
    try:
        for playbook in ("../examples/prepare-estate.yml", "site.yml"):
            run = run_playbook(playbook, [made], group_vars=GROUP_VARS)
            assert run.rc == 0, run.output[-3000:]
        yield made
    finally:
        docker("rm", "-f", made.name, check=False)


def canary(host):
    """Run playbooks/canary.yml; (run, the audit_triggers_canary fact)."""
    run = run_playbook("canary.yml", [host], group_vars=GROUP_VARS)
    found = [
        r["ansible_facts"]["audit_triggers_canary"]
        for name, r in run.results(host.name)
        if name.endswith("Gather what the canary found")
    ]
    return run, found[0] if found else None


@pytest.fixture(scope="module")
def healthy(host):
    """One canary run on the healthy host, read by the tests of what it found."""
    return canary(host)


def server_log(host):
    return host.sh("cat /var/log/postgresql/postgresql-%d-main.log" % host.major).stdout


def test_a_healthy_host_passes_with_the_time_each_proof_took(host, healthy):
    run, found = healthy
    assert run.rc == 0, run.output[-3000:]
    assert found["ok"] and found["problems"] == []
    assert found["log"]["path"] == "/var/log/postgresql/postgresql-%d-main.log" % MAJOR
    scopes = {s["scope"]: s for s in found["sessions"]}
    assert set(scopes) == {"system", "database:finance", "role:auditor", "role:quiet_user", "role:etl_loader"}
    # Every line the declared scope logs was found, with the time it took to reach the log.
    logged = [p for s in found["sessions"] for p in s["probes"] if p["expected"]]
    assert logged and all(p["found"] and 0 <= p["seconds"] < 5 for p in logged)
    trail = {t["database"]: t for t in found["trail"]}
    assert set(trail) == {"finance", "warehouse"}
    assert all(
        t["row_id"] and t["event_id"] and t["row_seconds"] >= 0 and t["event_seconds"] >= 0 for t in trail.values()
    )
    # finance is hash-chained: chain_verify sealed the canary's row and verified the chain.
    assert found["chain_seconds"] is not None and "the chain verifies" in found["chains"][0]
    assert any(name.endswith("Show the time each proof took") for name, _r in run.results(host.name))


def test_a_scope_set_to_none_produces_no_line_and_the_canary_says_that_is_as_declared(host, healthy):
    run, found = healthy
    assert run.rc == 0, run.output[-3000:]
    scopes = {s["scope"]: s for s in found["sessions"]}
    log = server_log(host)
    for scope in ("role:quiet_user", "role:etl_loader"):
        session = scopes[scope]
        assert session["session_log"] == "none" and session["expect"] == "none"
        assert "as declared" in session["note"]
        # The statements ran, and the server logged none of them.
        assert session["probes"] and not any(p["found"] for p in session["probes"])
        assert not any(p["marker"] in line for p in session["probes"] for line in log.splitlines() if "AUDIT:" in line)
    # The same statements in a scope that logs them are in the log: the markers are real.
    auditor = scopes["role:auditor"]
    assert all(any(p["marker"] in line for line in log.splitlines() if "AUDIT:" in line) for p in auditor["probes"])


def _pgaudit_off(host):
    before = host.psql("SHOW pgaudit.log")
    host.psql("ALTER SYSTEM SET pgaudit.log = 'none'; SELECT pg_reload_conf()")
    return lambda: host.psql("ALTER SYSTEM SET pgaudit.log = '%s'; SELECT pg_reload_conf()" % before)


def _log_deleted(host):
    # logging_collector off: the server's stderr goes to a file that logrotate (or a person) removed.
    host.sh("rm /var/log/postgresql/postgresql-%d-main.log" % host.major)
    return lambda: host.sh("systemctl restart postgresql@%d-main" % host.major)


def _trigger_dropped(host):
    where = "tgrelid = 'pgtrail_canary.beat'::regclass AND tgname = 'pgtrail_audit_row'"
    definition = host.psql("SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE %s" % where, db="finance")
    host.psql("DROP TRIGGER pgtrail_audit_row ON pgtrail_canary.beat", db="finance")
    return lambda: host.psql(
        "%s; ALTER TABLE pgtrail_canary.beat ENABLE ALWAYS TRIGGER pgtrail_audit_row" % definition, db="finance"
    )


@pytest.mark.parametrize(
    "silence, missing",
    [
        (
            _pgaudit_off,
            ["system: no AUDIT line for WRITE", "the session's pgaudit.log is 'none', declared 'write, ddl'"],
        ),
        (
            _log_deleted,
            ["the server writes its log to /var/log/postgresql/postgresql-%d-main.log, which was deleted" % MAJOR],
        ),
        (
            _trigger_dropped,
            [
                "trail of finance: the table pgtrail_canary.beat has lost its trigger(s) pgtrail_audit_row",
                "trail of finance: no log row for the canary's INSERT into pgtrail_canary.beat",
            ],
        ),
    ],
    ids=["pgaudit.log-none-by-alter-system", "log-file-deleted", "trail-trigger-dropped"],
)
def test_auditing_silently_off_fails_naming_the_host_and_what_is_missing(host, silence, missing):
    restore = silence(host)
    try:
        run, found = canary(host)
    finally:
        restore()
    assert run.rc != 0
    message = run.failure(host.name)
    assert message.startswith("Auditing is not working on %s: " % host.name), message
    for words in missing:
        assert words in message, message
    assert not found["ok"]


@pytest.mark.parametrize("name", ["converge.yml", "verify.yml"])
def test_the_scenario_docs_molecule_md_gives_users_is_the_one_ci_runs(name):
    page = (ROOT / "docs" / "molecule.md").read_text()
    block = re.search(r"`molecule/audit/%s`:\n\n<!--[^\n]*-->\n```yaml\n(.*?)```" % re.escape(name), page, re.S)
    assert block, "docs/molecule.md shows no molecule/audit/%s" % name
    assert block.group(1) == (ROOT / "molecule" / "canary" / name).read_text()
