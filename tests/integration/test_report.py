"""playbooks/report.yml on a small fleet: the evidence, the drift a hand-made change causes (which
site.yml --check --diff shows as the same change), the seed's "what to audit" coverage, the
trail's cost, names from the hosts escaped in every format, and the HTML page in headless Chromium.

Two fresh hosts (PostgreSQL 15 with the coverage profile, 17 with the baseline profile) are
converged once with site.yml and given an audit trail; the 17 host also gets a database, roles,
a schema and tables with hostile names. Every test then reads what the module fixture ran.
"""

import html
import json
import re
import shutil
import subprocess
import tempfile
import uuid

import pytest
from markdown_it import MarkdownIt
from testbed import ROOT, docker, run_playbook, start_host

from ansible_collections.pgtrail.audit.plugins.plugin_utils.cost import BYTES_PER_CHANGE

CHROMIUM = "/usr/bin/chromium"
OUTPUT = ROOT / "tests" / "output"
SCOPES_TASK = "pgtrail.audit.pgaudit : Apply the database, role and role-in-database scopes"
DB = "ledger_%s" % uuid.uuid4().hex[:6]
GROUP_VARS = {
    "pgaudit_log": ["write", "ddl"],
    "pgaudit_databases": {DB: {"log": ["read", "write"]}},
    "pgaudit_server_settings": {"log_line_prefix": "%m [%p] %q%u@%d %a %h "},
}


# Names PostgreSQL accepts (quoted) that a report must show as data: HTML, Markdown table
# breakers, a newline, a backtick, an ANSI escape.
HOSTILE_DB = "<img src=x onerror=alert(1)>"
HOSTILE_ROLE = "<script>alert(2)</script>"
HOSTILE_LOGIN = "x|y`z"
HOSTILE_SCHEMA = "a|b"
HOSTILE_TABLES = ["line\nbreak", "back`tick", "\x1b[31mred\x1b[0m"]
# Rows written before the reports run: the cost section counts them.
NOTES_ROWS, PAYMENT_ROWS = 40, 7


def host_vars(hosts):
    # The coverage profile as it is: no system class given over it, and the ledger database's
    # value drops none of its classes.
    coverage = {
        "pgaudit_profile": "coverage",
        "pgaudit_log": None,
        "pgaudit_databases": {DB: {"log": ["read", "write", "role", "ddl", "misc_set"]}},
    }
    return {hosts[0].name: coverage}


def make_hostile_names(host):
    """A database, a NOLOGIN role with settings (and a login member), a schema and tables named
    to break HTML, Markdown tables and terminals; the pgaudit extension in the database, so that
    site.yml has nothing to change."""
    host.psql(
        'CREATE DATABASE "%s"; CREATE ROLE "%s" NOLOGIN; ALTER ROLE "%s" SET pgaudit.log = \'none\'; '
        'CREATE ROLE "%s" LOGIN IN ROLE "%s"' % (HOSTILE_DB, HOSTILE_ROLE, HOSTILE_ROLE, HOSTILE_LOGIN, HOSTILE_ROLE)
    )
    tables = "; ".join(
        'CREATE TABLE "%s"."%s" (id int)' % (HOSTILE_SCHEMA, t.replace('"', '""')) for t in HOSTILE_TABLES
    )
    host.psql(
        'CREATE EXTENSION IF NOT EXISTS pgaudit; CREATE SCHEMA "%s"; %s; INSERT INTO "%s"."back`tick" VALUES (1), (2)'
        % (HOSTILE_SCHEMA, tables, HOSTILE_SCHEMA),
        db="dbname='%s'" % HOSTILE_DB,
    )


def report_json(directory):
    return json.loads((directory / "fleet-report.json").read_text())


def db_settings(host):
    return host.psql(
        "SELECT d.datname, s.setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase"
    )


@pytest.fixture(scope="module")
def fleet():
    hosts = []
    try:
        # Inside the try: a host that fails to start does not leave the other running.
        hosts.extend(start_host(major) for major in (15, 17))
        for host in hosts:
            host.psql("CREATE DATABASE %s" % DB)
            host.psql(
                "CREATE TABLE public.payments (id int PRIMARY KEY, amount numeric); CREATE TABLE public.notes (t text)",
                db=DB,
            )
        converge = run_playbook("site.yml", hosts, group_vars=GROUP_VARS, host_vars=host_vars(hosts))
        assert converge.rc == 0, converge.output
        for host in hosts:
            host.psql("CREATE ROLE clerk LOGIN")
            # On the coverage host the application role may call log_event(): its events are recorded.
            app_roles = ["clerk"] if host is hosts[0] else []
            trail = host.module("audit_trail", {"database": DB, "tables": ["public.payments"], "app_roles": app_roles})
            assert not trail["failed"], trail.get("msg")
            host.psql(
                "INSERT INTO public.notes SELECT 'n' FROM generate_series(1, %d); "
                "INSERT INTO public.payments SELECT g, 1 FROM generate_series(1, %d) AS g" % (NOTES_ROWS, PAYMENT_ROWS),
                db=DB,
            )
        make_hostile_names(hosts[1])
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
    assert checks15["STIG-classes"]["status"] == "pass"  # the coverage profile logs the STIG's classes
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


def seed_coverage_of(report, host):
    return {c["category"]: c for c in checks_of(report, host)[1]["seed_coverage"]}


def test_the_coverage_profile_covers_every_category_of_the_seed_and_the_baseline_does_not(runs):
    report = report_json(runs["converged_dir"])
    pg15, pg17 = runs["hosts"]
    covered = seed_coverage_of(report, pg15)
    assert {name: c["verdict"] for name, c in covered.items()} == dict.fromkeys(
        ["Authentication", "Authorization", "Data access", "Data modification", "Configuration changes",
         "Administrative actions"], "covered"
    )  # fmt: skip
    assert all(e["verdict"] == "covered" for c in covered.values() for e in c["examples"])
    (events,) = [e for e in covered["Data access"]["examples"] if e["example"] == "API key usage"]
    assert "%s: clerk" % DB in events["by"]

    baseline = seed_coverage_of(report, pg17)
    assert baseline["Data access"]["verdict"] == "partly"  # the trail's log_event(), but no read class
    (read,) = [e for e in baseline["Data access"]["examples"] if e["example"] == "sensitive data read"]
    assert read["verdict"] == "not_covered" and "does not log the read class" in read["by"]
    assert baseline["Data modification"]["verdict"] == "covered"  # the write class and the trail
    assert baseline["Authorization"]["verdict"] == "partly"  # no role or misc_set class
    assert baseline["Authentication"]["controls"][:2] == ["CIS 3.1.20", "CIS 3.1.21"]

    # What the matrix says is covered is in the log: ALTER SYSTEM (ddl) and SET ROLE (misc_set).
    marker = uuid.uuid4().hex[:8]
    pg15.psql("ALTER SYSTEM SET application_name = 'seed_%s'; ALTER SYSTEM RESET application_name; "
              "SET ROLE clerk; RESET ROLE" % marker)  # fmt: skip
    log = pg15.sh("grep -h 'AUDIT: ' /var/log/postgresql/postgresql-15-main.log").stdout
    assert "DDL,ALTER SYSTEM,,,ALTER SYSTEM SET application_name = 'seed_%s'" % marker in log
    assert "MISC,SET,,,SET ROLE clerk" in log


def test_the_cost_of_each_table_is_its_writes_per_day_times_the_measured_bytes(runs):
    report = report_json(runs["converged_dir"])
    pg15, pg17 = runs["hosts"]
    (ledger,) = [db for db in checks_of(report, pg17)[1]["cost"] if db["database"] == DB]
    tables = {t["table"]: t for t in ledger["tables"]}
    assert tables["public.payments"]["under_trail"] and not tables["public.notes"]["under_trail"]
    assert tables["public.notes"]["changes"] == NOTES_ROWS and tables["public.payments"]["changes"] == PAYMENT_ROWS
    per_change = BYTES_PER_CHANGE["row"]
    # The fleet was converged seconds ago: the period is short but never rounded to none.
    assert ledger["days"] > 0 and ledger["period"] != "?" and ledger["bytes_per_change"] == per_change
    notes = tables["public.notes"]
    assert abs(notes["bytes_per_day"] - notes["changes_per_day"] * per_change) <= per_change
    assert "docs/benchmarks.md" in report["cost_source"]
    markdown = (runs["converged_dir"] / "fleet-report.md").read_text()
    assert "**%s, database %s**: writes since" % (pg17.name, DB) in markdown
    assert "(%s, since the" % ledger["period"] in markdown


MARKDOWN = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
TAGS = {"h1", "h2", "h3", "p", "strong", "code", "table", "thead", "tbody", "tr", "th", "td", "br"}
TOKEN = re.compile(r"\\.|.", re.S)


def table_cells(row):
    """The cells of a Markdown table row, split at each | with no backslash before it."""
    cells = [""]
    for token in TOKEN.findall(row):
        if token == "|":
            cells.append("")
        else:
            cells[-1] += token
    return cells[1:-1]


def test_names_from_the_hosts_are_data_in_markdown_html_json_and_the_terminal(runs):
    directory = runs["converged_dir"]
    markdown = (directory / "fleet-report.md").read_text()
    # Every table keeps its shape: each row has as many cells as its header.
    header = None
    for line in markdown.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        if header is None:
            header = len(table_cells(line))
        assert len(table_cells(line)) == header, line
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f]", markdown)
    # Rendered, the page has no tag from a host, and shows each name as it is.
    rendered = MARKDOWN.render(markdown)
    assert {tag.lstrip("/") for tag in re.findall(r"<(/?\w+)", rendered)} <= TAGS
    text = html.unescape(rendered)
    for name in (HOSTILE_DB, HOSTILE_ROLE, HOSTILE_LOGIN):
        assert name in text, name
    for table in HOSTILE_TABLES:
        shown = '"%s"."%s"' % (HOSTILE_SCHEMA, table.replace("\n", "\\n").replace("\x1b", "\\x1b"))
        assert shown in text, shown

    page = (directory / "fleet-report.html").read_text()
    assert "<img" not in page and "<script" not in page
    assert html.escape(HOSTILE_DB, quote=False) in page and html.escape(HOSTILE_ROLE, quote=False) in page

    facts = checks_of(report_json(directory), runs["hosts"][1])[1]["facts"]
    assert HOSTILE_DB in facts["databases"]
    assert any(u["role"] == HOSTILE_ROLE for u in facts["unreached_role_settings"])

    (summary,) = [r["msg"] for _n, r in runs["converged"].results(runs["hosts"][0].name)
                  if _n == "Show the summary and where the HTML page is"]  # fmt: skip
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f]", summary)


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
    # The seed's categories per host, the cost per database, the controls of every check.
    assert 'id="seed-coverage"' in text and 'id="cost"' in text
    assert text.count('class="chip pass seed-verdict"') >= 6  # the coverage host: six covered categories
    assert "SOC 2 CC7.2" in text and "HIPAA 164.312(b)" in text and "PCI DSS 10.3.4" in text
    assert '<code>public.notes</code></td><td><span class="chip not_applicable">candidate</span>' in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text


def test_the_report_shows_each_logins_effective_pgaudit_log_and_who_can_switch_auditing_off(runs):
    report = report_json(runs["drifted_dir"])
    _pg15, pg17 = runs["hosts"]
    for host, value, dropped in ((pg17, "none", ["ddl", "write"]),):  # pg15 runs the coverage profile: nothing weaker
        _checks, entry = checks_of(report, host)
        policy = entry["policy"]
        postgres = next(row for row in policy["rows"] if row["login"] == "postgres")
        cell = postgres["cells"][policy["databases"].index(DB)]
        assert (cell["value"], cell["source"], cell["classes_dropped"]) == (value, "database", dropped)
        assert postgres["superuser"] and policy["weaker"] >= 1
        assert dict(role="postgres", kind="superuser", via=[], database=None, what=[]) in entry["can_switch_off"]
    markdown = (runs["drifted_dir"] / "fleet-report.md").read_text()
    assert "| postgres (superuser) |" in markdown and "**none** (database; drops ddl, write)" in markdown
    html = (runs["drifted_dir"] / "fleet-report.html").read_text()
    assert '<section id="policy">' in html and "drops ddl, write" in html
