"""The test bed as seen from pytest: hosts in systemd containers, modules and playbooks run on them.

Modules run inside the container exactly as in a playbook (ansible's docker connection, become
postgres through su), so what they see is what a host sees. SQL checks go through psql in the
container. Images come from scripts/testbed.sh; the containers have no network.
"""

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("PGTRAIL_CACHE", Path.home() / ".cache" / "pgtrail"))
# major -> Debian suite of its test-bed image (scripts/testbed.sh builds pgtrail-testbed:<suite>-pg<major>)
IMAGES = {15: "bookworm", 17: "trixie"}
# With PostgreSQL 18 (forky: Debian testing, built when it can be; tests skip without it).
ALL_IMAGES = {**IMAGES, 18: "forky"}


def docker(*args, check=True, input=None):
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True, input=input)


def image_exists(major):
    """Whether scripts/testbed.sh built the image of this major."""
    tag = "pgtrail-testbed:%s-pg%d" % (ALL_IMAGES[major], major)
    return docker("image", "inspect", tag, check=False).returncode == 0


def run_ansible(cmd):
    """Run an ansible command with this checkout's config and the json callback; returns the
    process and its parsed report."""
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
    )
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    try:
        return proc, json.loads(proc.stdout)
    except ValueError:
        raise AssertionError("%s printed no JSON (rc %s): %s %s" % (cmd[0], proc.returncode, proc.stdout, proc.stderr))


class Host:
    """One test-bed container, and the ways tests talk to it."""

    def __init__(self, name, major):
        self.name = name
        self.major = major

    def sh(self, command, check=True, user="root"):
        result = docker("exec", "-u", user, self.name, "sh", "-c", command, check=False)
        if check and result.returncode != 0:
            raise AssertionError("%s failed on %s: %s%s" % (command, self.name, result.stdout, result.stderr))
        return result

    def psql(self, query, db="postgres", check=True):
        """Run SQL as the postgres superuser; returns the unaligned output, stripped."""
        result = docker(
            "exec",
            "-i",
            "-u",
            "postgres",
            self.name,
            "psql",
            "-XAtq",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            db,
            input=query,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError("psql failed on %s: %s" % (self.name, result.stderr))
        return result.stdout.strip() if check else result

    def module(self, name, args=None, check_mode=False, diff=False, become_user="postgres"):
        """Run pgtrail.audit.<name> on this host like a playbook task; returns its result dict."""
        cmd = [
            "ansible",
            "all",
            "-i",
            "%s," % self.name,
            "-c",
            "community.docker.docker",
            "-m",
            name if "." in name else "pgtrail.audit." + name,
        ]
        if args:
            cmd += ["-a", json.dumps(args)]
        if become_user:
            cmd += ["-b", "--become-user", become_user, "--become-method", "su"]
        if check_mode:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        report = run_ansible(cmd)[1]
        result = report["plays"][0]["tasks"][0]["hosts"][self.name]
        result.setdefault("failed", False)
        return result

    def config_snapshot(self):
        """The bytes of every configuration file, to prove a refusal changed nothing."""
        return self.sh(
            "cat /etc/postgresql/%d/main/*.conf /var/lib/postgresql/%d/main/postgresql.auto.conf"
            % (self.major, self.major)
        ).stdout


def start_host(major, name=None, repo=None, docker_args=""):
    """Start a test-bed container through scripts/testbed.sh (the one place that knows how)."""
    suite = ALL_IMAGES[major]
    name = name or "pgtrail-it-pg%d-%s" % (major, uuid.uuid4().hex[:6])
    cmd = [str(ROOT / "scripts" / "testbed.sh"), "run", name, suite, str(major)]
    if repo:
        cmd.append(str(repo))
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env=dict(os.environ, PGTRAIL_LABEL="integration", PGTRAIL_DOCKER_ARGS=docker_args),
        check=False,
    )
    if proc.returncode != 0:
        docker("rm", "-f", name, check=False)
        pytest.fail("could not start %s: %s%s" % (name, proc.stdout, proc.stderr))
    host = Host(name, major)
    host.sh("apt-get install -y -qq python3-psycopg >/dev/null")
    return host


class PlaybookRun:
    """The outcome of one ansible-playbook run, read from the json callback."""

    def __init__(self, proc, report):
        self.rc = proc.returncode
        self.output = proc.stdout + proc.stderr
        self.report = report
        self.stats = report.get("stats", {})

    def results(self, host):
        """(task name, result) for every task that ran on host, in order."""
        for play in self.report.get("plays", []):
            for task in play["tasks"]:
                if host in task["hosts"]:
                    yield task["task"]["name"], task["hosts"][host]

    def changed_tasks(self, host):
        return [name for name, result in self.results(host) if result.get("changed")]

    def failure(self, host):
        """The message of the last task that failed on host (a rescued failure comes before the
        final one), or None."""
        message = None
        for _name, result in self.results(host):
            if result.get("failed") and not result.get("skipped"):
                message = result.get("msg", "")
        return message


def run_playbook(
    playbook, hosts, group_vars=None, host_vars=None, extra_vars=None, check=False, diff=False, groups=None
):
    """Run a playbook of this collection on test-bed hosts, the way a user would."""
    import tempfile

    import yaml

    inventory = {
        "postgres": {
            "hosts": {h.name: dict((host_vars or {}).get(h.name, {}), pg_major=h.major) for h in hosts},
            "vars": dict(group_vars or {}, ansible_connection="community.docker.docker", ansible_become_method="su"),
        }
    }
    for group, members in (groups or {}).items():
        inventory[group] = {"hosts": {h.name: {} for h in members}}
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as handle:
        # Keep the hosts in the order given: serial batches follow inventory order.
        yaml.safe_dump(inventory, handle, sort_keys=False)
    cmd = ["ansible-playbook", "-i", handle.name, str(ROOT / "playbooks" / playbook)]
    if extra_vars:
        cmd += ["--extra-vars", json.dumps(extra_vars)]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    try:
        proc, report = run_ansible(cmd)
    finally:
        os.unlink(handle.name)
    return PlaybookRun(proc, report)
