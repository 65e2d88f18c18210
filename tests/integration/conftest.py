"""Real PostgreSQL for module tests: one systemd container per major, started once per session.

Modules run inside the container exactly as in a playbook (ansible's docker connection, become
postgres through su), so what they see is what a host sees. SQL checks go through psql in the
container. Images come from scripts/testbed.sh; the containers have no network.
"""

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("PGTRAIL_CACHE", Path.home() / ".cache" / "pgtrail"))
IMAGES = {15: ("bookworm", "pgtrail-testbed:bookworm-pg15"), 17: ("trixie", "pgtrail-testbed:trixie-pg17")}


def docker(*args, check=True, input=None):
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True, input=input)


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
        env = dict(
            os.environ,
            ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
            ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
            ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        )
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
        try:
            report = json.loads(proc.stdout)
        except ValueError:
            raise AssertionError("ansible printed no JSON (rc %s): %s %s" % (proc.returncode, proc.stdout, proc.stderr))
        result = report["plays"][0]["tasks"][0]["hosts"][self.name]
        result.setdefault("failed", False)
        return result

    def config_snapshot(self):
        """The bytes of every configuration file, to prove a refusal changed nothing."""
        return self.sh(
            "cat /etc/postgresql/%d/main/*.conf /var/lib/postgresql/%d/main/postgresql.auto.conf"
            % (self.major, self.major)
        ).stdout


def start_host(major):
    suite, image = IMAGES[major]
    if docker("image", "inspect", image, check=False).returncode != 0:
        pytest.fail("image %s is missing: run scripts/testbed.sh images" % image)
    name = "pgtrail-it-pg%d-%s" % (major, uuid.uuid4().hex[:6])
    docker(
        "run",
        "-d",
        "--name",
        name,
        "--hostname",
        name,
        "--label",
        "pgtrail.testbed=integration",
        "--network",
        "none",
        "--cap-add",
        "SYS_ADMIN",
        "--security-opt",
        "seccomp=unconfined",
        "--cgroupns=host",
        "-v",
        "/sys/fs/cgroup:/sys/fs/cgroup:rw",
        "--tmpfs",
        "/run",
        "--tmpfs",
        "/run/lock",
        "-v",
        "%s:/srv/pgtrail-repo:ro" % (CACHE / "repo" / suite),
        image,
    )
    host = Host(name, major)
    state = ""
    for _attempt in range(60):
        # Right after start the bus is not up yet and systemctl answers nothing.
        state = host.sh("systemctl is-system-running --wait", check=False).stdout.strip()
        if state in ("running", "degraded"):
            break
        time.sleep(1)
    else:
        pytest.fail("systemd in %s did not come up: %r" % (name, state))
    for _attempt in range(30):
        if host.sh("pg_isready -q", check=False).returncode == 0:
            break
        time.sleep(1)
    host.sh("apt-get update -qq && apt-get install -y -qq python3-psycopg >/dev/null")
    return host


@pytest.fixture(scope="session", params=sorted(IMAGES), ids=lambda major: "pg%d" % major)
def pg(request):
    """A running PostgreSQL host of each major, shared by every test of the session."""
    host = start_host(request.param)
    yield host
    docker("rm", "-f", host.name, check=False)
