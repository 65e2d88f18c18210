"""The playbooks over the connections users have: a non-root remote user with sudo, with and
without pipelining, on a host with and without the acl package.

Ansible hands a module to an unprivileged become user (postgres) through a temporary file, which
needs POSIX ACLs on the host (setfacl) unless pipelining sends the module through the become
command's stdin. The docker connection honours ansible_user (docker exec -u), so a sudo user in
a container stands for an SSH user on a real host. One host serves every case, in the table's
order: the refusals first (the host still untouched), then a converge per way that works.

scripts/test runs the converge case again with the oldest and the newest ansible-core the
collection supports (stage `versions`).
"""

import json
import tempfile
from pathlib import Path

import pytest
from testbed import docker, run_playbook, start_host

USER = "deploy"
# Each converge changes the system classes, so the run really edits and reloads the server.
SCOPE = {
    "pgaudit_log": ["write", "ddl"],
    "audit_triggers_databases": {"postgres": {"tables": ["public.orders"], "hash_chain": True}},
}


@pytest.fixture(scope="module")
def sudo_host():
    """PostgreSQL 17 with a sudo user and no acl package: the host of a typical SSH user."""
    host = start_host(17)
    host.sh(
        "apt-get install -y -qq sudo >/dev/null && useradd -m -s /bin/bash %s"
        " && echo '%s ALL=(ALL) NOPASSWD: ALL' >/etc/sudoers.d/%s" % (USER, USER, USER)
    )
    host.psql("CREATE TABLE public.orders (id int)")
    assert host.sh("command -v setfacl", check=False).returncode != 0, "the image has acl installed"
    yield host
    docker("rm", "-f", host.name, check=False)


def run_as_sudo_user(playbook, host, monkeypatch, pipelining, group_vars=None, extra_vars=None):
    monkeypatch.setenv("ANSIBLE_PIPELINING", str(pipelining))
    return run_playbook(
        playbook,
        [host],
        group_vars=group_vars or SCOPE,
        host_vars={host.name: {"ansible_user": USER, "ansible_become_method": "sudo"}},
        extra_vars=extra_vars,
    )


def set_acl(host, installed):
    host.sh("apt-get %s -y -qq acl >/dev/null" % ("install" if installed else "remove"))


@pytest.mark.parametrize("playbook", ["site.yml", "verify.yml", "report.yml"])
def test_without_acl_or_pipelining_each_playbook_stops_at_the_preflight_naming_the_fix(
    sudo_host, monkeypatch, playbook, tmp_path
):
    set_acl(sudo_host, installed=False)
    config = sudo_host.config_snapshot()

    run = run_as_sudo_user(
        playbook, sudo_host, monkeypatch, pipelining=False, extra_vars={"pgtrail_report_dir": str(tmp_path)}
    )

    if playbook == "report.yml":
        # The report goes on (its files are written on the controller): the host is listed as
        # not read, with the reason.
        assert run.rc == 0, run.output
        message = json.dumps(json.loads((tmp_path / "fleet-report.json").read_text()))
    else:
        assert run.rc != 0, run.output
        assert run.changed_tasks(sudo_host.name) == []
        message = run.failure(sudo_host.name)
    assert "install the acl package" in message, run.output
    assert "pipelining" in message, run.output
    assert "Nothing was changed" in message, run.output
    assert "A+user" not in message
    assert sudo_host.config_snapshot() == config


@pytest.mark.parametrize(
    "acl, pipelining, classes",
    [
        pytest.param(False, True, ["write", "ddl"], id="no-acl-pipelining"),
        pytest.param(True, False, ["write", "ddl", "role"], id="acl-no-pipelining"),
    ],
)
def test_a_sudo_user_converges_the_host_with_acl_or_pipelining(sudo_host, monkeypatch, acl, pipelining, classes):
    set_acl(sudo_host, installed=acl)
    scope = dict(SCOPE, pgaudit_log=classes)

    site = run_as_sudo_user("site.yml", sudo_host, monkeypatch, pipelining, group_vars=scope)
    assert site.rc == 0, site.output
    assert site.changed_tasks(sudo_host.name), "the converge changed nothing"
    assert sorted(sudo_host.psql("SHOW pgaudit.log").split(", ")) == sorted(classes)

    with tempfile.TemporaryDirectory() as heads:
        verify = run_as_sudo_user(
            "verify.yml", sudo_host, monkeypatch, pipelining, group_vars=scope, extra_vars={"pgtrail_chain_dir": heads}
        )
        assert verify.rc == 0, verify.output
        assert (Path(heads) / sudo_host.name / "postgres.json").is_file()
        # The first export says it had nothing to compare with; the next compares, and says nothing of it.
        assert "no earlier head in" in verify.output, verify.output
        again = run_as_sudo_user(
            "verify.yml", sudo_host, monkeypatch, pipelining, group_vars=scope, extra_vars={"pgtrail_chain_dir": heads}
        )
        assert again.rc == 0, again.output
        assert "no earlier head in" not in again.output, again.output
