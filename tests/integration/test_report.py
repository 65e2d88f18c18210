"""playbooks/report.yml on a small fleet: the evidence, the drift a hand-made change causes (which
site.yml --check --diff shows as the same change), and the HTML page in headless Chromium.

Two fresh hosts (PostgreSQL 15 with the STIG profile, 17 with the seed profile) are converged
once with site.yml and given an audit trail; every test then reads what the module fixture ran.
"""

import json
import shutil
import subprocess
import tempfile
import uuid

import pytest
from testbed import ROOT, docker, run_playbook, start_host

CHROMIUM = "/usr/bin/chromium"
OUTPUT = ROOT / "tests" / "output"
SCOPES_TASK = "pgtrail.audit.pgaudit : Apply the database, role and role-in-database scopes"
DB = "ledger_%s" % uuid.uuid4().hex[:6]
GROUP_VARS = {
    "pgaudit_log": ["write", "ddl"],
    "pgaudit_databases": {DB: {"log": ["read", "write"]}},
    "pgaudit_server_settings": {"log_line_prefix": "%m [%p] %q%u@%d %a %h "},
}


def host_vars(hosts):
    stig = {"pgaudit_profile": "stig", "pgaudit_log": ["read", "write", "role", "ddl"]}
    return {hosts[0].name: stig}


def report_json(directory):
    return json.loads((directory / "fleet-report.json").read_text())


def db_settings(host):
    return host.psql(
        "SELECT d.datname, s.setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase"
    )


@pytest.fixture(scope="module")
def fleet():
    hosts = [start_host(15), start_host(17)]
    try:
        for host in hosts:
            host.psql("CREATE DATABASE %s" % DB)
            host.psql(
                "CREATE TABLE public.payments (id int PRIMARY KEY, amount numeric); CREATE TABLE public.notes (t text)",
                db=DB,
            )
        converge = run_playbook("site.yml", hosts, group_vars=GROUP_VARS, host_vars=host_vars(hosts))
        assert converge.rc == 0, converge.output
        for host in hosts:
            trail = host.module("audit_trail", {"database": DB, "tables": ["public.payments"]})
            assert not trail["failed"], trail.get("msg")
        yield hosts
    finally:
        for host in hosts:
            docker("rm", "-f", host.name, check=False)


@pytest.fixture(scope="module")
def runs(fleet):
    """What the tests read: a report of the converged fleet, then, after one hand-made change on
    the PostgreSQL 17 host, a report and a site.yml run, both with --check."""
    converged_dir, drifted_dir = OUTPUT / "report-converged", OUTPUT / "report"
    for directory in (converged_dir, drifted_dir):
        shutil.rmtree(directory, ignore_errors=True)
    converged = run_playbook(
        "report.yml", fleet, group_vars=GROUP_VARS, host_vars=host_vars(fleet),
        extra_vars={"pgtrail_report_dir": str(converged_dir)},
    )  # fmt: skip

    drifted_host = fleet[1]
    drifted_host.psql("ALTER DATABASE %s SET pgaudit.log = 'none'" % DB)
    before = {h.name: (h.config_snapshot(), db_settings(h)) for h in fleet}
    drifted = run_playbook(
        "report.yml", fleet, group_vars=GROUP_VARS, host_vars=host_vars(fleet), check=True,
        extra_vars={"pgtrail_report_dir": str(drifted_dir)},
    )  # fmt: skip
    after_report = {h.name: (h.config_snapshot(), db_settings(h)) for h in fleet}
    site_check = run_playbook(
        "site.yml", fleet, group_vars=GROUP_VARS, host_vars=host_vars(fleet), check=True, diff=True
    )
    return dict(
        hosts=fleet,
        converged=converged,
        converged_dir=converged_dir,
        drifted=drifted,
        drifted_dir=drifted_dir,
        unchanged=before == after_report,
        site_check=site_check,
    )


def checks_of(report, host):
    entry = next(h for h in report["hosts"] if h["name"] == host.name)
    return {c["id"]: c for c in entry["checks"]}, entry


def test_a_converged_fleet_has_no_drift_and_the_report_names_its_real_findings(runs):
    run = runs["converged"]
    assert run.rc == 0, run.output
    report = report_json(runs["converged_dir"])
    pg15, pg17 = runs["hosts"]
    assert report["summary"]["hosts"] == 2 and report["summary"]["hosts_read"] == 2
    assert report["summary"]["drift"] == 0

    checks15, host15 = checks_of(report, pg15)
    checks17, host17 = checks_of(report, pg17)
    assert checks15["CIS-3.2"]["status"] == checks17["CIS-3.2"]["status"] == "pass"
    assert checks15["CIS-3.1.20"]["status"] == "pass" and checks15["CIS-3.1.24"]["status"] == "pass"
    assert checks15["STIG-classes"]["status"] == "pass"  # the STIG profile
    assert checks17["STIG-classes"]["status"] == "fail"  # the seed profile logs write and ddl only
    assert checks17["STIG-classes"]["reason"] == "pgaudit.log = 'write, ddl' does not log role, read"
    # The inventory itself weakens the system classes for the ledger database: reported, not hidden.
    assert "database %s: 'read, write' drops ddl" % DB in checks17["PGT-weakening"]["reason"]
    assert checks17["PGT-trail-always"]["status"] == "pass" and checks17["PGT-log-lockdown"]["status"] == "pass"

    coverage = {(r["host"], r["database"]): r for r in report["coverage"]}
    ledger = coverage[(pg17.name, DB)]
    assert ledger["trail"] == "present" and ledger["audited"] == ["public.payments"]
    assert ledger["uncovered"] == ["public.notes"] and ledger["triggers_ok"] is True
    assert ledger["pgaudit_extension"] == host17["facts"]["pgaudit"]["available_version"]
    assert coverage[(pg17.name, "postgres")]["trail"] == "no trail"

    shown = [result for name, result in run.results(pg15.name) if name == "Show the summary and where the HTML page is"]
    message = shown[0]["msg"]
    assert message.startswith("| Host | PostgreSQL | pgaudit | Pass | Fail | N/A | Drift | Failing checks |")
    assert pg15.name in message and pg17.name in message
    assert message.endswith("HTML report: %s/fleet-report.html" % runs["converged_dir"])


def test_a_value_changed_by_hand_is_reported_as_drift_and_check_mode_changes_nothing(runs):
    run = runs["drifted"]
    assert run.rc == 0, run.output
    assert runs["unchanged"]
    report = report_json(runs["drifted_dir"])
    pg15, pg17 = runs["hosts"]
    assert checks_of(report, pg17)[1]["drift"] == [
        {"scope": "database", "target": DB, "setting": "pgaudit.log", "declared": "read, write", "actual": "none"}
    ]
    assert checks_of(report, pg15)[1]["drift"] == []
    assert report["summary"]["hosts_with_drift"] == 1 and report["summary"]["drift"] == 1
    markdown = (runs["drifted_dir"] / "fleet-report.md").read_text()
    assert "| %s | database | %s | pgaudit.log | read, write | none |" % (pg17.name, DB) in markdown


def test_site_check_diff_shows_the_same_drift_as_the_change_it_would_make(runs):
    run = runs["site_check"]
    assert run.rc == 0, run.output
    pg15, pg17 = runs["hosts"]
    # A converged host under --check --diff reports nothing to change, at any step.
    assert run.changed_tasks(pg15.name) == []
    # The only difference between the two hosts is the hand-made change, and it is one task.
    assert SCOPES_TASK not in run.changed_tasks(pg15.name)
    assert [t for t in run.changed_tasks(pg17.name) if t not in run.changed_tasks(pg15.name)] == [SCOPES_TASK]
    (result,) = [r for name, r in run.results(pg17.name) if name == SCOPES_TASK]
    assert result["changes"] == [
        {
            "scope": "database",
            "target": DB,
            "database": DB,
            "name": "pgaudit.log",
            "before": "none",
            "after": "read, write",
        }
    ]
    assert result["diff"]["before"]["database %s" % DB] == {"pgaudit.log": "none"}
    assert result["diff"]["after"]["database %s" % DB] == {"pgaudit.log": "read, write"}


def chromium(*args):
    with tempfile.TemporaryDirectory(prefix="pgtrail-chromium-") as profile:
        command = [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--user-data-dir=%s" % profile, *args,
        ]  # fmt: skip
        return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


def test_the_html_report_opens_in_headless_chromium_with_matrix_drift_and_coverage(runs):
    if not shutil.which(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (%s); scripts/test integration installs it" % CHROMIUM)
    page = runs["drifted_dir"] / "fleet-report.html"
    html = page.read_text()
    # Self-contained: no script, no stylesheet or image fetched from anywhere.
    assert "<script" not in html and 'src="http' not in html and "<link" not in html

    screenshot = OUTPUT / "report.png"
    screenshot.unlink(missing_ok=True)
    shot = chromium("--screenshot=%s" % screenshot, "--window-size=1400,1000", page.as_uri())
    assert shot.returncode == 0, shot.stderr
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 20000

    dom = chromium("--dump-dom", "--window-size=1400,1000", page.as_uri())
    assert dom.returncode == 0, dom.stderr
    text = dom.stdout
    report = report_json(runs["drifted_dir"])
    pg15, pg17 = runs["hosts"]
    assert "Fleet compliance report" in text
    for host in (pg15, pg17):
        assert text.count(host.name) >= 4  # matrix row, drift or coverage rows, host details
    for check in report["checks"]:
        assert check["id"] in text
    # The matrix has one coloured cell per host and check.
    assert text.count('class="cell ') == 2 * len(report["checks"])
    assert text.count('class="cell fail"') == report["summary"]["totals"]["fail"]
    # The drift row and the coverage of the ledger database.
    assert "<code>pgaudit.log</code></td>" in text and "<code>none</code>" in text
    assert "<b>%s</b>" % DB in text and "<code>public.notes</code>" in text


def test_the_report_shows_each_logins_effective_pgaudit_log_and_who_can_switch_auditing_off(runs):
    report = report_json(runs["drifted_dir"])
    pg15, pg17 = runs["hosts"]
    for host, value, dropped in ((pg15, "read, write", ["ddl", "role"]), (pg17, "none", ["ddl", "write"])):
        _checks, entry = checks_of(report, host)
        policy = entry["policy"]
        postgres = next(row for row in policy["rows"] if row["login"] == "postgres")
        cell = postgres["cells"][policy["databases"].index(DB)]
        assert (cell["value"], cell["source"], cell["classes_dropped"]) == (value, "database", dropped)
        assert postgres["superuser"] and policy["weaker"] >= 1
        assert dict(role="postgres", kind="superuser", via=[], database=None, what=[]) in entry["can_switch_off"]
    markdown = (runs["drifted_dir"] / "fleet-report.md").read_text()
    assert "| postgres (superuser) |" in markdown and "**`none`** (database; drops ddl, write)" in markdown
    html = (runs["drifted_dir"] / "fleet-report.html").read_text()
    assert '<section id="policy">' in html and "drops ddl, write" in html
