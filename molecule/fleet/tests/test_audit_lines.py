"""Every scope of the inventory shows up as AUDIT lines in the server log, or as none."""

import os
import uuid

import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"]).get_hosts(
    "postgres"
)


def major(host):
    return int(host.ansible.get_variables()["pg_major"])


def server_log(host):
    return host.file("/var/log/postgresql/postgresql-%d-main.log" % major(host)).content_string


def run_as(host, role, database, statement):
    """Log in as `role` over TCP (so its own settings apply) and run a statement."""
    host.check_output(
        "PGPASSWORD=pw psql -XAtq -v ON_ERROR_STOP=1 -h 127.0.0.1 -U %s -d %s -c %s",
        role,
        database,
        statement,
    )


def audit_lines(host, marker):
    return [line for line in server_log(host).splitlines() if "AUDIT:" in line and marker in line]


def marker():
    return "m" + uuid.uuid4().hex[:12]


def test_pgaudit_is_preloaded_and_the_extension_exists_everywhere(host):
    out = host.check_output("runuser -u postgres -- psql -XAtc 'SHOW shared_preload_libraries'")
    assert "pgaudit" in [entry.strip() for entry in out.split(",")]
    for database in ("postgres", "template1", "finance", "warehouse"):
        assert (
            host.check_output(
                "runuser -u postgres -- psql -XAt -d %s -c %s",
                database,
                "SELECT extname FROM pg_extension WHERE extname = 'pgaudit'",
            )
            == "pgaudit"
        )


def test_exactly_one_restart_on_converge_and_none_on_the_idempotence_run(host):
    # One start when the container booted, one restart by the first converge.
    starts = server_log(host).count("database system is ready to accept connections")
    assert starts == 2


def test_system_classes_log_writes_and_ddl_but_not_reads(host):
    m = marker()
    run_as(host, "clerk", "postgres", "INSERT INTO public.notes VALUES (1, '%s')" % m)
    run_as(host, "clerk", "postgres", "SELECT * FROM public.notes WHERE body = '%s'" % m)
    lines = audit_lines(host, m)
    assert any("SESSION" in line and ",WRITE,INSERT," in line for line in lines), lines
    assert not any(",READ," in line for line in lines), lines


def test_a_database_override_adds_reads_in_that_database(host):
    m = marker()
    run_as(host, "clerk", "finance", "SELECT * FROM public.payments WHERE amount::text = '%s'" % m)
    assert any(",READ,SELECT," in line for line in audit_lines(host, m))


def test_a_role_override_logs_everything_that_role_does(host):
    m = marker()
    run_as(host, "auditor", "postgres", "SELECT * FROM public.notes WHERE body = '%s'" % m)
    assert any(",READ,SELECT," in line for line in audit_lines(host, m))


def test_a_role_set_to_none_produces_no_audit_line(host):
    m = marker()
    run_as(host, "quiet_user", "postgres", "INSERT INTO public.notes VALUES (2, '%s')" % m)
    assert audit_lines(host, m) == []


def test_a_role_in_database_override_applies_only_in_that_database(host):
    quiet, loud = marker(), marker()
    run_as(host, "etl_loader", "warehouse", "INSERT INTO public.stock VALUES (1, length('%s'))" % quiet)
    run_as(host, "etl_loader", "postgres", "INSERT INTO public.notes VALUES (3, '%s')" % loud)
    assert audit_lines(host, quiet) == []
    assert any(",WRITE,INSERT," in line for line in audit_lines(host, loud))


def test_object_auditing_logs_the_granted_table_only(host):
    granted, other = marker(), marker()
    run_as(host, "clerk", "warehouse", "SELECT * FROM public.stock WHERE qty::text = '%s'" % granted)
    run_as(host, "clerk", "warehouse", "SELECT * FROM public.other WHERE id::text = '%s'" % other)
    assert any("AUDIT: OBJECT" in line and "public.stock" in line for line in audit_lines(host, granted))
    assert not any("AUDIT: OBJECT" in line for line in audit_lines(host, other))


def test_connections_are_logged(host):
    run_as(host, "clerk", "postgres", "SELECT 1")
    assert "connection authorized: user=clerk" in server_log(host)
