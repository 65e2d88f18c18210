"""playbooks/site.yml on fresh hosts: what it refuses, what it predicts, how it fails safely.

Each test starts its own containers, because each restarts, breaks or must find a host that
was never touched. The converged-fleet behaviour (AUDIT lines per scope, one restart, the
idempotence pass) is the molecule scenario `fleet`.
"""

import shutil
import subprocess
import tempfile
import time
import uuid

import pytest
import yaml
from pgaudit_testlib import log_lines
from testbed import CACHE, IMAGES, ROOT, docker, run_playbook

SCOPE = {
    "pgaudit_log": ["write", "ddl"],
    "pgaudit_databases": {"ledger": {"log": ["read", "write"]}},
    "pgaudit_roles": {"teller": {"log": "none", "database": "ledger"}},
    "pgaudit_log_off_allowed": ["role:teller"],
}


# The example estate's scope: settings at every scope, object auditing, a trail (one hash-chained)
# and its lockdown in two databases.
EXAMPLE_SCOPE = yaml.safe_load((ROOT / "examples" / "inventory" / "group_vars" / "postgres.yml").read_text())

# Modules a steady re-run of site.yml runs on each host: the read that plans every step
# (pgtrail.audit.audit_plan). Each remote module run costs a host about a second, and 2 cores
# run them one after another: this count is the deterministic measure of the steady path's cost
# per host (benchmarks/run --sections steady times it).
STEADY_REMOTE_CALLS = 1

# Tasks the controller evaluates for each host on a re-run that changes nothing: the validation
# (its argument spec, its one task, and the play's one message about scopes where auditing is
# off) and the read (its argument spec, audit_plan, the decision). Such a host is idle and sits
# out the plays after the read, whose tasks, even skipped, would each cost every host a worker on
# the controller; the plays choose their hosts without a task (the read_hosts filter).
STEADY_HOST_TASKS = 6

# Actions the controller runs itself, without a module run on the host.
CONTROLLER_ACTIONS = {
    "ansible.builtin.%s" % name
    for name in (
        "set_fact",
        "debug",
        "assert",
        "fail",
        "meta",
        "group_by",
        "include_role",
        "include_tasks",
        "import_tasks",
        "include_vars",
        "validate_argument_spec",
    )
}


def remote_calls(run, host):
    """[(task, action)] of every module run on ``host`` (a loop's items each count)."""
    calls = []
    for name, result in run.results(host):
        if result.get("skipped") or result.get("action") in CONTROLLER_ACTIONS:
            continue
        items = result.get("results")
        count = len([i for i in items if not i.get("skipped")]) if isinstance(items, list) else 1
        calls += [(name, result.get("action"))] * count
    return calls


def estate(host):
    host.psql("CREATE DATABASE ledger")
    host.psql("CREATE ROLE teller LOGIN")


def started_at(host):
    return host.psql("SELECT pg_postmaster_start_time()")


def preload(host):
    return host.psql("SHOW shared_preload_libraries")


def pgaudit_installed(host):
    return host.sh("dpkg -s postgresql-%d-pgaudit" % host.major, check=False).returncode == 0


def test_check_diff_before_converge_changes_nothing_and_predicts_the_real_run(fresh_hosts):
    (host,) = fresh_hosts(15)
    estate(host)
    config, start = host.config_snapshot(), started_at(host)

    check = run_playbook("site.yml", [host], group_vars=SCOPE, check=True, diff=True)
    assert check.rc == 0, check.output
    assert host.config_snapshot() == config
    assert started_at(host) == start
    assert not pgaudit_installed(host)

    real = run_playbook("site.yml", [host], group_vars=SCOPE)
    assert real.rc == 0, real.output
    assert check.changed_tasks(host.name) == real.changed_tasks(host.name)
    assert "pgaudit" in preload(host)


def test_an_unknown_class_stops_the_play_before_any_host_changes(fresh_hosts):
    good, bad = fresh_hosts(15, 17)
    configs = {h.name: h.config_snapshot() for h in (good, bad)}

    run = run_playbook(
        "site.yml",
        [good, bad],
        group_vars={"pgaudit_log": ["write", "ddl"]},
        host_vars={bad.name: {"pgaudit_log": ["write", "bogus"]}},
    )

    assert run.rc != 0
    assert "bogus" in run.failure(bad.name)
    for host in (good, bad):
        assert host.config_snapshot() == configs[host.name]
        assert not pgaudit_installed(host)


@pytest.fixture
def repo_without_pgaudit():
    """The suite's package repository minus pgaudit: the honest way to make it unavailable."""
    repo = tempfile.mkdtemp(prefix="repo-without-pgaudit-", dir=CACHE)
    for deb in (CACHE / "repo" / IMAGES[15]).glob("*.deb"):
        if "pgaudit" not in deb.name:
            shutil.copy(deb, repo)
    subprocess.run(
        "dpkg-scanpackages --multiversion . /dev/null > Packages 2>/dev/null", shell=True, cwd=repo, check=True
    )
    yield repo
    shutil.rmtree(repo)


def test_an_unavailable_package_fails_clearly_and_leaves_the_server_as_it_was(fresh_hosts, repo_without_pgaudit):
    (host,) = fresh_hosts(15, repo=repo_without_pgaudit)
    host.sh("apt-get update -qq")  # forget the image's index, which lists pgaudit
    config, start = host.config_snapshot(), started_at(host)

    run = run_playbook("site.yml", [host], group_vars={"pgaudit_log": ["write", "ddl"]})

    assert run.rc != 0
    message = run.failure(host.name)
    assert "postgresql-15-pgaudit" in message and "Nothing was changed" in message
    assert host.config_snapshot() == config
    assert started_at(host) == start


def test_a_restart_that_breaks_is_rolled_back_and_the_fleet_goes_on_within_the_limit(fresh_hosts):
    broken, healthy, next_batch = fresh_hosts(15, 17, 15)
    config = broken.config_snapshot()

    # Two hosts a batch; one failure in a batch of two is within 50 %, so the next batch runs.
    # huge_pages=on passes validation but this machine has no huge pages: the server cannot start.
    run = run_playbook(
        "site.yml",
        [broken, healthy, next_batch],
        group_vars={"pgaudit_log": ["write", "ddl"]},
        # Play keywords (serial, max_fail_percentage) see extra vars, not inventory variables.
        extra_vars={"pgtrail_serial": 2, "pgtrail_max_fail_percentage": 50},
        host_vars={broken.name: {"pgaudit_server_settings": {"huge_pages": "on"}}},
    )

    assert run.rc != 0
    assert "did not come back" in run.failure(broken.name)
    assert broken.sh("pg_isready -q", check=False).returncode == 0
    assert "pgaudit" not in preload(broken)
    assert broken.config_snapshot() == config
    for host in (healthy, next_batch):
        assert run.failure(host.name) is None
        assert "pgaudit" in preload(host), (host.name, run.stats)


def test_a_pending_restart_is_staged_once_reported_on_every_run_and_then_done_once(fresh_hosts):
    (host,) = fresh_hosts(17)
    scope = {"pgaudit_log": ["write", "ddl"]}

    staged = run_playbook("site.yml", [host], group_vars=dict(scope, pgaudit_restart=False))
    assert staged.rc == 0, staged.output
    start = started_at(host)
    again = run_playbook("site.yml", [host], group_vars=dict(scope, pgaudit_restart=False))
    assert again.rc == 0, again.output
    assert again.changed_tasks(host.name) == []
    assert started_at(host) == start
    assert "pgaudit" not in preload(host)

    restarted = run_playbook("site.yml", [host], group_vars=scope)
    assert restarted.rc == 0, restarted.output
    assert "pgaudit" in preload(host)
    assert started_at(host) != start
    assert run_playbook("site.yml", [host], group_vars=scope).changed_tasks(host.name) == []


# Each kind of scope that names what the server does not have; the first two are the inputs of a
# fresh host the README's quick start was tried on (refused only after the restart).
MISSING_OBJECTS = [
    ({"pgaudit_databases": {"pgt_no_db": {"log": ["read"]}}}, ["database 'pgt_no_db' does not exist"]),
    ({"pgaudit_roles": {"pgt_no_role": {"log": ["all"]}}}, ["role 'pgt_no_role' does not exist"]),
    (
        {"pgaudit_roles": {"postgres": {"log": ["all"], "database": "pgt_no_db"}}},
        ["database 'pgt_no_db' does not exist"],
    ),
    (
        {"pgaudit_databases": {"pgt_no_db": {"log": ["read"]}}, "pgaudit_roles": {"pgt_no_role": {"log": ["all"]}}},
        ["database 'pgt_no_db' does not exist", "role 'pgt_no_role' does not exist"],
    ),
]


def test_a_scope_naming_a_missing_database_or_role_is_refused_before_the_preload_and_restart(fresh_hosts):
    (host,) = fresh_hosts(17)
    files, start, before = host.config_snapshot(), started_at(host), preload(host)
    assert "pgaudit" not in before
    for scope, problems in MISSING_OBJECTS:
        run = run_playbook("site.yml", [host], group_vars=dict(scope, pgaudit_log=["ddl"]))
        assert run.rc != 0, scope
        failure = run.failure(host.name) or run.output
        assert "cannot take this change, so none of it was made" in failure, failure
        for problem in problems:
            assert problem in failure, (scope, failure)
        assert host.config_snapshot() == files, scope
        assert started_at(host) == start and preload(host) == before, scope
        assert not pgaudit_installed(host), scope


@pytest.fixture
def replicated_pair(fresh_hosts):
    """A streaming primary and standby (PostgreSQL 15) that share a socket directory on a volume."""
    volume = "pgtrail-repl-" + uuid.uuid4().hex[:8]
    subprocess.run(["docker", "volume", "create", volume], check=True, capture_output=True)
    pair = []
    try:
        pair.extend(fresh_hosts(15, 15, docker_args="-v %s:/shared" % volume))
        primary, standby = pair
        primary.sh("install -d -o postgres /shared/prim")
        primary.sh("sed -i '1i local replication all trust' /etc/postgresql/15/main/pg_hba.conf")
        conf_d = "/etc/postgresql/15/main/conf.d"
        primary.sh("echo \"unix_socket_directories = '/var/run/postgresql,/shared/prim'\" > %s/repl.conf" % conf_d)
        primary.sh("systemctl restart postgresql@15-main")
        standby.sh("systemctl stop postgresql@15-main && rm -rf /var/lib/postgresql/15/main/*")
        standby.sh("runuser -u postgres -- pg_basebackup -h /shared/prim -D /var/lib/postgresql/15/main -R -X stream")
        standby.sh("systemctl start postgresql@15-main")
        assert standby.psql("SELECT pg_is_in_recovery()") == "t"
        yield primary, standby
    finally:
        # The volume goes once no container uses it: before fresh_hosts removes them, it cannot.
        for host in pair:
            docker("rm", "-f", host.name, check=False)
        subprocess.run(["docker", "volume", "rm", "-f", volume], capture_output=True, check=False)


def sealed_blocks(host, db):
    return int(host.psql("SELECT count(*) FROM audit.chain_block", db=db))


def test_standbys_restart_before_their_primary_and_take_only_system_changes_and_the_sealer(replicated_pair):
    primary, standby = replicated_pair
    primary.psql("CREATE DATABASE ledger")
    primary.psql("CREATE TABLE public.entries (id int PRIMARY KEY)", db="ledger")

    scope = {
        "pgaudit_log": ["write", "ddl"],
        "pgaudit_databases": {"ledger": {"log": ["read", "write"]}},
        "audit_triggers_databases": {"ledger": {"tables": ["public.entries"], "hash_chain": True}},
    }
    run = run_playbook("site.yml", [primary, standby], group_vars=scope, groups={"postgres_standby": [standby]})

    assert run.rc == 0, run.output
    # Once converged, the pair is steady: a second run changes nothing on either host.
    again = run_playbook("site.yml", [primary, standby], group_vars=scope, groups={"postgres_standby": [standby]})
    assert again.rc == 0, again.output
    assert again.changed_tasks(primary.name) == [] and again.changed_tasks(standby.name) == [], again.output
    for host in (primary, standby):
        assert "pgaudit" in preload(host)
    # The standby came back before the primary restarted.
    assert standby.psql("SELECT pg_postmaster_start_time()") < primary.psql("SELECT pg_postmaster_start_time()")
    # Catalog changes were made on the primary and reached the standby by replication.
    primary.psql("SELECT pg_sleep(1)")
    assert standby.psql("SELECT extname FROM pg_extension WHERE extname = 'pgaudit'", db="ledger") == "pgaudit"
    assert "pgaudit.log=read, write" in standby.psql(
        "SELECT array_to_string(setconfig, ';') FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase"
        " WHERE datname = 'ledger'"
    )
    assert standby.psql("SELECT pg_is_in_recovery()") == "t"

    # The primary's sealer seals ledger every second, where pgaudit logs read and write: none of
    # its statements reach the server log (a day of them was about 0.6 GB per database).
    def chain_lines():
        return [line for line in log_lines(primary, "chain_block") if ",READ," in line or ",WRITE," in line]

    installed = chain_lines()  # the trail's own installation (block 0)
    primary.psql("INSERT INTO public.entries VALUES (0)", db="ledger")
    time.sleep(3)
    assert chain_lines() == installed, chain_lines()[len(installed) :][:3]

    # site.yml gave the standby the audit_triggers role's sealer too (its only step there): it
    # waits in its session (nothing to seal, nothing in its journal) and seals once the standby is
    # promoted, with no run of the role in between.
    unit = "pgtrail-seal-15-main-ledger.service"
    assert standby.sh("systemctl is-active %s" % unit).stdout.strip() == "active", run.output
    session = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgtrail-sealer'"
    assert standby.psql(session, db="ledger") == "1"
    primary.psql("INSERT INTO public.entries VALUES (1)", db="ledger")
    time.sleep(3)
    assert standby.sh("journalctl -u %s -q -o cat --no-pager" % unit).stdout.strip() == ""
    standby.sh("runuser -u postgres -- pg_ctlcluster 15 main promote")
    assert standby.psql("SELECT pg_is_in_recovery()") == "f"
    before = sealed_blocks(standby, "ledger")
    standby.psql("INSERT INTO public.entries VALUES (2)", db="ledger")
    deadline = time.monotonic() + 5
    while sealed_blocks(standby, "ledger") == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sealed_blocks(standby, "ledger") > before, standby.sh("journalctl -u %s --no-pager" % unit).stdout


def test_a_steady_rerun_runs_one_module_per_host_and_a_step_with_a_plan_through_its_module(fresh_hosts):
    (host,) = fresh_hosts(17)
    assert run_playbook("../examples/prepare-estate.yml", [host]).rc == 0
    # Check mode on a host that has none of it yet: the roles, the trail and the canary's login
    # that earlier tasks would create are missing, so later tasks plan without them (a warning
    # each) rather than fail; nothing changes.
    files = host.config_snapshot()
    first_check = run_playbook("site.yml", [host], group_vars=EXAMPLE_SCOPE, check=True, diff=True)
    assert first_check.rc == 0, first_check.output
    assert host.config_snapshot() == files
    assert host.psql("SELECT count(*) FROM pg_namespace WHERE nspname = 'audit'", db="finance") == "0"
    assert host.psql("SELECT count(*) FROM pg_roles WHERE rolname = 'pgtrail_canary'") == "0"
    first = run_playbook("site.yml", [host], group_vars=EXAMPLE_SCOPE)
    assert first.rc == 0, first.output
    predicted = set(first_check.changed_tasks(host.name))
    for step in ("Build the audit trail in each database", "Lock down the audit trail in each database"):
        assert any(step in name for name in predicted), predicted
    assert predicted <= set(first.changed_tasks(host.name)), predicted - set(first.changed_tasks(host.name))

    steady = run_playbook("site.yml", [host], group_vars=EXAMPLE_SCOPE)
    assert steady.rc == 0 and steady.changed_tasks(host.name) == [], steady.output
    assert len(remote_calls(steady, host.name)) <= STEADY_REMOTE_CALLS, remote_calls(steady, host.name)
    evaluated = [name for name, _result in steady.results(host.name)]
    assert len(evaluated) <= STEADY_HOST_TASKS, evaluated

    # One change behind each step the read plans: the steps whose plan is not empty run, through
    # their own modules, and --check --diff shows exactly what the real run then changes.
    host.psql("GRANT SELECT ON audit.audit_log TO clerk", db="finance")
    host.psql("REVOKE SELECT ON public.stock FROM audit_objects", db="warehouse")
    host.psql("ALTER ROLE auditor RESET pgaudit.log")
    host.psql("ALTER TABLE public.stock DISABLE TRIGGER pgtrail_audit_row", db="warehouse")
    check = run_playbook("site.yml", [host], group_vars=EXAMPLE_SCOPE, check=True, diff=True)
    real = run_playbook("site.yml", [host], group_vars=EXAMPLE_SCOPE)
    assert check.rc == 0 and real.rc == 0, real.output
    assert check.changed_tasks(host.name) == real.changed_tasks(host.name)
    assert [name.split(" : ")[-1] for name in real.changed_tasks(host.name)] == [
        "Apply the database, role and role-in-database scopes",
        "Grant the object-audit role what it audits",
        "Build the audit trail in each database (the loop label names it)",
        "Lock down the audit trail in each database",
    ]
    assert host.psql("SELECT has_table_privilege('clerk', 'audit.audit_log', 'SELECT')", db="finance") == "f"
    # The canary's table has its own row trigger: this one is public.stock's.
    stock_trigger = (
        "SELECT tgenabled FROM pg_trigger WHERE tgname = 'pgtrail_audit_row' AND tgrelid = 'public.stock'::regclass"
    )
    assert host.psql(stock_trigger, db="warehouse") == "A"
