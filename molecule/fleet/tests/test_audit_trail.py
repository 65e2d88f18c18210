"""The trigger-based trail on the converged fleet: every change to an audited table is one log row."""

import os
import uuid

import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"]).get_hosts(
    "postgres"
)


def as_clerk(host, database, statement):
    return host.check_output(
        "PGPASSWORD=pw psql -XAtq -v ON_ERROR_STOP=1 -h 127.0.0.1 -U clerk -d %s -c %s", database, statement
    )


def as_postgres(host, database, statement):
    return host.check_output("runuser -u postgres -- psql -XAtq -d %s -c %s", database, statement)


def test_an_application_write_is_logged_with_its_actor_and_login(host):
    actor = str(uuid.uuid4())
    amount = uuid.uuid4().int % 100000
    as_clerk(
        host,
        "finance",
        "BEGIN; SELECT set_config('pgtrail.actor_id', '%s', true); "
        "INSERT INTO public.payments VALUES (1, %d); COMMIT;" % (actor, amount),
    )
    row = as_postgres(
        host,
        "finance",
        "SELECT action, table_name, actor_id, login_role, new_data->>'amount' FROM audit.audit_log "
        "WHERE actor_id = '%s'" % actor,
    )
    assert row == "INSERT|payments|%s|clerk|%d" % (actor, amount)


def test_the_trail_tables_are_listed_in_the_registry(host):
    # The canary's table (playbooks/canary.yml writes to it) joins every trail.
    tables = as_postgres(
        host, "warehouse", "SELECT schema_name || '.' || table_name FROM audit.audited_tables ORDER BY 1"
    )
    assert tables.split() == ["pgtrail_canary.beat", "public.stock"]
