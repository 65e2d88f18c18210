"""The tamper suite on the converged fleet: the example inventory's clerk (the application, which
owns public.payments) against the finance trail, locked down and hash-chained by site.yml.

Every attack is denied or recorded; the superuser's edits run inside transactions that are rolled
back, so the fleet's log stays intact for the other verify tests and for playbooks/verify.yml.
"""

import os

import pytest
import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"]).get_hosts(
    "postgres"
)

DB = "finance"


def as_clerk(host, statement):
    """Run SQL as clerk over TCP; returns the command (rc, stdout, stderr) without raising."""
    return host.run("PGPASSWORD=pw psql -XAtq -v ON_ERROR_STOP=1 -h 127.0.0.1 -U clerk -d %s -c %s", DB, statement)


def as_postgres(host, statement):
    return host.check_output("runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -d %s -c %s", DB, statement)


def refused(host, statement, message="permission denied"):
    result = as_clerk(host, statement)
    assert result.rc != 0, "%s was allowed" % statement
    assert message in result.stderr, result.stderr
    return result.stderr


def log_rows(host):
    return int(as_postgres(host, "SELECT count(*) FROM audit.audit_log"))


def test_the_finance_trail_belongs_to_a_nologin_owner_and_clerk_holds_nothing_on_the_log(host):
    assert as_postgres(host, "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'audit_owner'") == "f"
    owner = "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'audit.audit_log'::regclass"
    assert as_postgres(host, owner) == "audit_owner"
    privileges = "SELECT,INSERT,UPDATE,DELETE,TRUNCATE"
    assert as_postgres(host, "SELECT has_table_privilege('clerk', 'audit.audit_log', '%s')" % privileges) == "f"
    assert as_postgres(host, "SELECT has_table_privilege('auditor', 'audit.audit_log', 'SELECT')") == "t"


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit.audit_log SET actor_id = 'nobody'",
        "DELETE FROM audit.audit_log",
        "TRUNCATE audit.audit_log",
        "INSERT INTO audit.audit_log (kind, table_name, action) VALUES ('event', 'auth', 'FORGED')",
    ],
    ids=["update", "delete", "truncate", "forged insert"],
)
def test_clerk_cannot_rewrite_or_forge_the_log(host, statement):
    before = log_rows(host)
    refused(host, statement)
    assert log_rows(host) == before


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE public.payments DISABLE TRIGGER pgtrail_audit_row",
        "DROP TRIGGER pgtrail_audit_row ON public.payments",
    ],
    ids=["disable trigger", "drop trigger"],
)
def test_clerk_cannot_silence_the_audit_trigger_of_the_table_it_owns(host, statement):
    refused(host, statement, "only a superuser may weaken the audit trail")
    enabled = "SELECT tgenabled FROM pg_trigger WHERE tgrelid = 'public.payments'::regclass AND tgname = '%s'"
    assert as_postgres(host, enabled % "pgtrail_audit_row") == "A"


def test_clerk_cannot_switch_to_replica_mode_nor_pgaudit_off(host):
    refused(
        host, "SET session_replication_role = replica", 'permission denied to set parameter "session_replication_role"'
    )
    refused(host, "SET pgaudit.log = 'none'", 'permission denied to set parameter "pgaudit.log"')


def test_a_function_planted_in_public_is_refused_and_would_not_be_used(host):
    refused(
        host,
        "CREATE FUNCTION public.to_jsonb(anyelement) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$",
        "permission denied for schema public",
    )
    # The trail's functions pin their search_path first (the statement trigger also runs with
    # jit off and its own work_mem) and name every object with its schema.
    configs = as_postgres(
        host,
        "SELECT DISTINCT proconfig[1] FROM pg_proc WHERE pronamespace = 'audit'::regnamespace AND prosecdef",
    )
    assert configs == "search_path=pg_catalog, pg_temp"


def test_clerks_writes_are_logged_and_chained_and_the_chain_verifies(host):
    assert as_clerk(host, "INSERT INTO public.payments VALUES (99, 9.99)").rc == 0
    row = as_postgres(
        host,
        "SELECT login_role || ',' || (chain_seq IS NOT NULL)::text FROM audit.audit_log "
        "WHERE table_name = 'payments' ORDER BY id DESC LIMIT 1",
    )
    assert row == "clerk,true"
    assert as_postgres(host, "SELECT ok::text || ',' || unsealed FROM audit.verify_chain()") == "true,0"


def superuser_tamper(host, tamper):
    """Tamper as a superuser, verify, roll back: the verdict of verify_chain() on the tampered log."""
    return as_postgres(
        host, "BEGIN; %s; SELECT broken_seq || '|' || reason FROM audit.verify_chain(); ROLLBACK" % tamper
    )


def test_a_superusers_edit_middle_delete_and_tail_delete_are_each_caught_at_their_place(host):
    assert as_clerk(host, "INSERT INTO public.payments SELECT g, g FROM generate_series(100, 104) AS g").rc == 0
    head = int(as_postgres(host, "SELECT head_seq FROM audit.verify_chain()"))
    middle = head - 2
    edited = superuser_tamper(
        host, "UPDATE audit.audit_log SET actor_id = 'someone else' WHERE chain_seq = %d" % middle
    )
    assert edited.startswith("%d|the row at position %d" % (middle, middle)) and "was changed" in edited
    deleted = superuser_tamper(host, "DELETE FROM audit.audit_log WHERE chain_seq = %d" % middle)
    assert deleted.startswith("%d|position %d is missing" % (middle, middle))
    tail = superuser_tamper(host, "DELETE FROM audit.audit_log WHERE chain_seq > %d" % middle)
    assert tail.startswith("%d|the chain ends at position %d" % (middle + 1, middle))
    exported = as_postgres(host, "SELECT head_seq || ',''' || head_hash || '''' FROM audit.verify_chain()")
    rewound = as_postgres(
        host,
        "BEGIN; DELETE FROM audit.audit_log WHERE chain_seq > %d;"
        "UPDATE audit.chain_head SET seq = %d, hash = (SELECT row_hash FROM audit.audit_log WHERE chain_seq = %d);"
        "SELECT ok || '|' || coalesce(reason, '') FROM audit.verify_chain(%s); ROLLBACK"
        % (middle, middle, middle, exported),
    )
    assert rewound.startswith("false|the log no longer reaches the head exported earlier")
    assert as_postgres(host, "SELECT ok FROM audit.verify_chain()") == "t"
