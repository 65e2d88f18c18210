"""playbooks/site.yml and report.yml with the inputs users really give (issue 12, parts 5, 6, 8, 9).

- Values that turn auditing off at a scope are refused before any host changes, unless the
  inventory allows it there (pgaudit_log_off_allowed); values pgaudit refuses are refused.
- Extra vars are strings: every boolean and integer variable works given as `-e name=value`.
- A clean converge prints no warning; the warnings a run does print are about the user's hosts.
- Role settings on a NOLOGIN group role reach no session: the run warns and the report says so.
- Databases no session can open are named by the run and the report, not skipped silently.
- scripts/testbed.sh clean removes only the containers of its own run.

The validation cases share one run (they stop before any host is contacted, beside a real
shared host that must not change); the rest share one fresh PostgreSQL 17 host, converged once.
"""

import json
import os
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
from testbed import ROOT, Host, docker, image_exists, run_playbook, start_host

# Every boolean and integer variable of both roles and of site.yml, as `-e name=value` gives them.
AS_STRINGS = {
    "pgaudit_restart": "true",
    "pgaudit_install_packages": "yes",
    "pgaudit_log_connections": "True",
    "pgaudit_remove_unlisted": "false",
    "pgaudit_restart_timeout": "60",
    "audit_triggers_install_packages": "true",
    "audit_triggers_revoke_parameter_grants": "true",
    "pgtrail_serial": "1",
    "pgtrail_max_fail_percentage": "0",
}

# The README's example scope, with a NOLOGIN group role among the roles.
SCOPE = {
    "pgaudit_log": ["write", "ddl"],
    "pgaudit_databases": {"warehouse": {"log": ["read", "write", "ddl"]}},
    "pgaudit_roles": {
        "auditor": {"log": "all"},
        "dba_team": {"log": "all"},
        "etl_loader": {"log": "none", "database": "warehouse"},
    },
    # Off for etl_loader in warehouse is intended: the README's example, with its opt-in.
    "pgaudit_log_off_allowed": ["role:etl_loader"],
}


def warnings_of(run, host):
    """Every warning the run printed: Ansible's own [WARNING] lines and the modules' warnings
    (the json callback keeps those in the results, the default callback prints them)."""
    printed = [line for line in run.output.splitlines() if "[WARNING]" in line]
    return printed + [w for _name, result in run.results(host) for w in result.get("warnings") or []]


def messages_of(run, host):
    return [str(result.get("msg", "")) for _name, result in run.results(host)]


# --- values that turn auditing off, and values pgaudit refuses ----------------------------------

# (inventory of one host, what the error must say). Each is refused in the validation play.
REFUSED = {
    "log-empty-string": ({"pgaudit_log": ""}, ["pgaudit_log", "logs nothing", "system-wide", "'system'"]),
    "log-empty-list": ({"pgaudit_log": []}, ["pgaudit_log", "logs nothing", "'system'"]),
    "log-none": ({"pgaudit_log": "none"}, ["pgaudit_log", "logs nothing", "'system'"]),
    "settings-subtraction-only": (
        {"pgaudit_log": None, "pgaudit_settings": {"log": "-misc"}},
        ["pgaudit_settings.log", "logs nothing"],
    ),
    "database-subtracts-all": (
        {"pgaudit_databases": {"scratch": {"log": "read, -read"}}},
        ["pgaudit_databases.scratch", "database scratch", "'database:scratch'"],
    ),
    "readme-role-in-database-without-opt-in": (
        {"pgaudit_roles": {"etl_loader": {"log": "none", "database": "warehouse"}}},
        ["pgaudit_roles.etl_loader", "role etl_loader in database warehouse", "'role:etl_loader'"],
    ),
    "opt-in-for-another-scope": (
        {"pgaudit_log": "", "pgaudit_log_off_allowed": ["role:etl_loader"]},
        ["'system' to pgaudit_log_off_allowed"],
    ),
    "empty-element": ({"pgaudit_log": "read,,write"}, ["'read,,write'", "not a list pgaudit accepts"]),
    "trailing-comma": ({"pgaudit_log": "write,"}, ["'write,'", "not a list pgaudit accepts"]),
    "empty-list-item": ({"pgaudit_log": ["write", ""]}, ["not a list pgaudit accepts"]),
    # A setting given twice is refused, naming both places (the group gives pgaudit_log).
    "log-given-twice": ({"pgaudit_settings": {"log": "read"}}, ["pgaudit_log", "pgaudit_settings.log", "give it once"]),
    "role-given-twice": (
        {"pgaudit_object_audit": {"role": "audit_objects"}, "pgaudit_settings": {"role": "auditor"}},
        ["pgaudit_object_audit", "pgaudit_settings.role", "give it once"],
    ),
    "old-names-disagree": (
        {"pgaudit_become_user": "postgres", "audit_triggers_become_user": "dba"},
        ["pgaudit_become_user", "audit_triggers_become_user", "set only pgtrail_become_user"],
    ),
}
# The validate.yml entry point has an argument spec: a bad type stops every host there, before
# the scope is read (so these run apart from the cases above).
BAD_TYPES = {
    "bad-integer": ({"pgaudit_restart_timeout": "soon"}, ["pgaudit_restart_timeout"]),
    "bad-boolean": ({"pgaudit_restart": "maybe"}, ["pgaudit_restart"]),
    "bad-list": ({"pgaudit_log_off_allowed": {"system": True}}, ["pgaudit_log_off_allowed"]),
}
# The playbook's own variables, which play keywords read: checked first of all.
BAD_PLAYBOOK_VARIABLES = {
    "bad-serial": ({"pgtrail_serial": "two"}, ["pgtrail_serial", "got two"]),
    "bad-fail-percentage": ({"pgtrail_max_fail_percentage": "150"}, ["pgtrail_max_fail_percentage", "got 150"]),
}


@pytest.mark.parametrize(
    "table", [REFUSED, BAD_TYPES, BAD_PLAYBOOK_VARIABLES], ids=["scope-values", "types", "playbook-variables"]
)
@pytest.mark.parametrize("pg", [17], indirect=True, ids=["pg17"])
def test_values_that_turn_auditing_off_or_that_pgaudit_refuses_stop_the_run_before_any_change(pg, table):
    # One inventory host per case: the validation play never connects, so they need no container.
    cases = [Host("pgtrail-case-" + case, pg.major) for case in table]
    host_vars = {h.name: table[h.name[len("pgtrail-case-") :]][0] for h in cases}
    config = pg.config_snapshot()

    run = run_playbook("site.yml", [pg] + cases, group_vars={"pgaudit_log": ["write", "ddl"]}, host_vars=host_vars)

    assert run.rc != 0
    for host in cases:
        message = run.failure(host.name)
        assert message, (host.name, run.output)
        for fragment in table[host.name[len("pgtrail-case-") :]][1]:
            assert fragment in message, (host.name, fragment, message)
    # The good host was validated and then nothing ran: no host changed.
    assert not [name for name, _r in run.results(pg.name) if not name.startswith(("Check", "Validat", "pgtrail"))]
    assert pg.config_snapshot() == config


@pytest.mark.parametrize("pg", [17], indirect=True, ids=["pg17"])
def test_an_old_variable_name_is_taken_with_a_deprecation_warning_naming_its_one_name(pg):
    # The run stops in the validation play (the case host's value is refused): nothing is contacted.
    case = Host("pgtrail-case-old-name", pg.major)
    config = pg.config_snapshot()

    run = run_playbook(
        "site.yml",
        [pg, case],
        group_vars={"pgaudit_log": ["write", "ddl"], "pgaudit_become_user": "postgres", "pgaudit_profile": "seed"},
        host_vars={case.name: {"pgaudit_log": "none"}},
    )

    assert run.rc != 0 and "logs nothing" in run.failure(case.name)
    # The json callback keeps them in the results (the default callback prints [DEPRECATION WARNING]).
    deprecations = [d["msg"] for _name, result in run.results(pg.name) for d in result.get("deprecations") or []]
    assert [line for line in deprecations if "pgaudit_become_user" in line and "pgtrail_become_user" in line]
    assert [line for line in deprecations if "seed" in line and "baseline" in line]
    assert pg.config_snapshot() == config


# --- one converged host -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def host():
    if not image_exists(17):
        pytest.skip("no PostgreSQL 17 image")
    host = start_host(17, name="pgtrail-it-inputs-%s" % uuid.uuid4().hex[:6])
    host.psql(
        "CREATE DATABASE warehouse; CREATE ROLE auditor LOGIN; CREATE ROLE etl_loader LOGIN;"
        " CREATE ROLE dba_team NOLOGIN; CREATE ROLE ops NOLOGIN IN ROLE dba_team;"
        " CREATE ROLE alice LOGIN IN ROLE dba_team; CREATE ROLE bob LOGIN IN ROLE ops;"
        # One database no session can open; one closed to PUBLIC only (superusers still connect).
        " CREATE DATABASE archive WITH ALLOW_CONNECTIONS false; CREATE DATABASE sealed;"
        " REVOKE CONNECT ON DATABASE sealed FROM PUBLIC;"
    )
    yield host
    docker("rm", "-f", host.name, check=False)


@pytest.fixture(scope="module")
def converged(host):
    """The first converge, every boolean and integer given as a string (as -e gives them)."""
    return run_playbook("site.yml", [host], group_vars=SCOPE, extra_vars=AS_STRINGS)


def test_a_converge_with_every_variable_given_as_a_string_warns_only_about_the_users_hosts(host, converged):
    assert converged.rc == 0, converged.output
    assert "pgaudit" in host.psql("SHOW shared_preload_libraries")
    assert host.psql("SHOW log_connections") == "on"
    # Ansible itself warns about nothing (no loop variable in a task name, no missing group).
    assert [line for line in converged.output.splitlines() if "[WARNING]" in line] == []
    # The modules warn about the user's roles and databases, and about nothing else.
    warnings = warnings_of(converged, host.name)
    unreached = [w for w in warnings if "dba_team" in w]
    assert unreached and "reach no session" in unreached[0] and "alice, bob" in unreached[0], warnings
    assert [w for w in warnings if "archive" in w and "datallowconn" in w], warnings
    assert not [w for w in warnings if "sealed" in w], warnings
    for warning in warnings:
        assert any(name in warning for name in ("dba_team", "etl_loader", "archive")), warning
    # Off where the inventory allows it, and said so.
    assert "pgaudit.log=none" in host.psql(
        "SELECT array_to_string(setconfig, ';') FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole"
        " WHERE rolname = 'etl_loader'"
    )
    assert any(
        "role etl_loader in database warehouse" in m and "auditing is off" in m
        for m in messages_of(converged, host.name)
    )


def test_the_report_names_role_settings_that_reach_no_session_and_databases_not_read(host, converged):
    assert converged.rc == 0
    with tempfile.TemporaryDirectory() as report_dir:
        report = run_playbook("report.yml", [host], group_vars=SCOPE, extra_vars={"pgtrail_report_dir": report_dir})
        assert report.rc == 0, report.output
        model = json.loads((Path(report_dir) / "fleet-report.json").read_text())
        markdown = (Path(report_dir) / "fleet-report.md").read_text()
        html = (Path(report_dir) / "fleet-report.html").read_text()
    assert [(r["role"], r["login_members"]) for r in model["unreached_role_settings"]] == [
        ("dba_team", ["alice", "bob"])
    ]
    assert [r["database"] for r in model["closed_databases"]] == ["archive"]
    assert "| %s | dba_team | all | pgaudit.log = all | alice, bob |" % host.name in markdown
    assert "| %s | archive | does not allow connections (datallowconn is false)" % host.name in markdown
    assert "dba_team" in html and "alice, bob" in html and "archive" in html


def test_false_given_as_a_string_is_false(host, converged):
    assert converged.rc == 0
    start = host.psql("SELECT pg_postmaster_start_time()")
    # A postmaster setting stages a restart that pgaudit_restart=false must not make.
    strings = dict(
        AS_STRINGS,
        pgaudit_restart="false",
        pgaudit_log_connections="no",
        pgaudit_install_packages="false",
        audit_triggers_install_packages="false",
        audit_triggers_revoke_parameter_grants="false",
        pgtrail_serial="2",
        pgtrail_max_fail_percentage="50",
        pgaudit_restart_timeout="30",
    )
    scope = dict(SCOPE, pgaudit_server_settings={"max_wal_senders": 11})

    run = run_playbook("site.yml", [host], group_vars=scope, extra_vars=strings)

    assert run.rc == 0, run.output
    assert host.psql("SELECT pg_postmaster_start_time()") == start
    assert host.psql("SHOW log_connections") == "off"
    assert any("restart is pending" in m for m in messages_of(run, host.name)), run.output


# --- scripts/testbed.sh clean -------------------------------------------------------------------


def test_clean_removes_only_the_containers_of_its_own_run():
    if not image_exists(15):
        pytest.skip("no PostgreSQL 15 image")
    ours, theirs = "it-clean-%s" % uuid.uuid4().hex[:6], "it-other-%s" % uuid.uuid4().hex[:6]
    # Created, never started: clean sees them as it sees any test-bed container.
    made = {}
    for run in (ours, ours, theirs, "demo"):
        name = "pgtrail-%s-%s" % (run, uuid.uuid4().hex[:6])
        labels = ["--label", "pgtrail.testbed=integration", "--label", "pgtrail.run=%s" % run]
        docker("create", "--name", name, *labels, "pgtrail-testbed:bookworm-pg15")
        made[name] = run
    clean = [str(ROOT / "scripts" / "testbed.sh"), "clean"]
    try:
        # Without a run to clean, clean refuses and removes nothing.
        unnamed = subprocess.run(clean, capture_output=True, text=True, env=without("PGTRAIL_RUN"), check=False)
        assert unnamed.returncode == 2 and "which run?" in unnamed.stderr
        assert all(docker("inspect", name, check=False).returncode == 0 for name in made)

        done = subprocess.run(
            clean, capture_output=True, text=True, env=dict(os.environ, PGTRAIL_RUN=ours), check=False
        )
        assert done.returncode == 0, done.stderr
        for name, run in made.items():
            assert (docker("inspect", name, check=False).returncode == 0) == (run != ours), name
    finally:
        for name in made:
            docker("rm", "-f", name, check=False)


def without(name):
    env = dict(os.environ)
    env.pop(name, None)
    return env
