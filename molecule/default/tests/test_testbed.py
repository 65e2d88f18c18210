"""The test bed works: PostgreSQL runs under systemd and answers SQL in every container."""

import os

import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"]).get_hosts(
    "postgres"
)


def pg_major(host):
    return int(host.ansible.get_variables()["pg_major"])


def test_postgresql_runs_under_systemd(host):
    assert host.check_output("cat /proc/1/comm") == "systemd"
    assert host.service("postgresql@%d-main" % pg_major(host)).is_running


def test_a_real_sql_query_answers(host):
    out = host.check_output("runuser -u postgres -- psql -XAtc %s", "SELECT current_setting('server_version_num')")
    assert int(out) // 10000 == pg_major(host)


def test_the_container_has_no_network(host):
    links = host.check_output("ls /sys/class/net").split()
    assert links == ["lo"]
