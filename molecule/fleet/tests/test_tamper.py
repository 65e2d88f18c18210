"""The tamper suite on the converged fleet: the example inventory's clerk (the application, which
owns public.payments) against the finance trail, locked down and hash-chained by site.yml.

Every attack is denied or recorded; a superuser's tampering is caught by pgtrail.audit.chain_verify
(chain v2, docs/chain-v2.md) at the first bad position, or against the last checkpoint. The
superuser tampers with a copy of the database, so the fleet's log stays intact for the other
verify tests and for playbooks/verify.yml.
"""

import json
import os
import time

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


def chain_verify(host, database=DB, login=None, **options):
    """pgtrail.audit.chain_verify on the host: as postgres (peer), or as login over TCP."""
    args = dict(options, database=database)
    if login:
        args.update(login_user=login, login_password="pw", login_host="127.0.0.1")
    return host.ansible(
        "pgtrail.audit.chain_verify", json.dumps(args), check=False, become=login is None, become_user="postgres"
    )


def test_clerks_writes_are_logged_and_sealed_by_the_timer_within_five_seconds(host):
    before = chain_verify(host, seal=False)["head"]["size"]
    assert as_clerk(host, "INSERT INTO public.payments VALUES (99, 9.99)").rc == 0
    row = "SELECT login_role FROM audit.audit_log WHERE table_name = 'payments' ORDER BY id DESC LIMIT 1"
    assert as_postgres(host, row) == "clerk"
    # Nobody seals but the sealer's service (seal: false): the row is in a block within 5 s.
    deadline = time.time() + 5
    while True:
        verified = chain_verify(host, seal=False)
        if verified["unsealed"] == 0 or time.time() > deadline:
            break
        time.sleep(0.5)
    assert verified["ok"] is True and verified["unsealed"] == 0, verified["reason"]
    assert verified["head"]["size"] > before


def test_the_auditors_own_login_verifies_the_chain_and_cannot_seal_or_write_it(host):
    verified = chain_verify(host, login="auditor", seal=False)
    assert verified["ok"] is True and verified["checked"] == verified["head"]["size"], verified["reason"]
    for statement in ("SELECT audit.seal()", "DELETE FROM audit.chain_block", "UPDATE audit.chain_head SET seq = 0"):
        result = host.run(
            "PGPASSWORD=pw psql -XAtq -v ON_ERROR_STOP=1 -h 127.0.0.1 -U auditor -d %s -c %s", DB, statement
        )
        assert result.rc != 0 and "permission denied" in result.stderr, (statement, result.stderr)


# A superuser tampers with a copy of finance (CREATE DATABASE ... TEMPLATE, same cluster: the
# blocks' snapshots still hold), so the fleet's log stays intact for playbooks/verify.yml. It gets
# past the insert-only trigger the way retention does, or by disabling it.
UNGUARDED = "SET LOCAL pgtrail_audit.retention = 'on';"
UNBLOCKED = "ALTER TABLE audit.chain_block DISABLE TRIGGER pgtrail_insert_only;"


@pytest.fixture
def sealed_batch(host):
    """Five rows of clerk's in one transaction, alone in the head block: (head, their log ids)."""
    chain_verify(host)
    assert as_clerk(host, "INSERT INTO public.payments SELECT g, g FROM generate_series(100, 104) AS g").rc == 0
    head = chain_verify(host)["head"]
    block = "SELECT last_pos - first_pos + 1 FROM audit.chain_block WHERE block = %d" % head["block"]
    assert as_postgres(host, block) == "5"
    ids = as_postgres(host, "SELECT id FROM audit.audit_log WHERE table_name = 'payments' ORDER BY id DESC LIMIT 5")
    return head, sorted(int(i) for i in ids.split())


@pytest.fixture
def copy(host):
    name = "finance_tamper"
    # The sealer keeps a session in finance, and CREATE DATABASE ... TEMPLATE needs the template
    # to have none (docs/chain-v2.md, section 2): stopped for the copy, as a DBA would.
    listed = host.check_output("systemctl list-unit-files --no-legend %s", "pgtrail-seal-*-%s.service" % DB)
    sealer = listed.split()[0]
    host.check_output("systemctl stop %s", sealer)
    try:
        made = host.run("runuser -u postgres -- psql -XAtq -c %s", 'CREATE DATABASE "%s" TEMPLATE %s' % (name, DB))
    finally:
        host.check_output("systemctl start %s", sealer)
    assert made.rc == 0, made.stderr
    yield name
    host.check_output("runuser -u postgres -- psql -XAtq -c %s", 'DROP DATABASE "%s" WITH (FORCE)' % name)


def tamper(host, database, statement, then="SELECT 1"):
    """The statement in a transaction of its own, then another (the sealer, for a rewrite)."""
    host.check_output(
        "runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -d %s -c %s -c %s",
        database,
        "BEGIN;%s;COMMIT" % statement,
        then,
    )


# (statement, position from the end of the batch's block, which of its rows is found there, why)
TAMPERING = {
    "an edited row": (
        UNGUARDED + "UPDATE audit.audit_log SET actor_id = 'someone else' WHERE id = {r[2]}",
        -2,
        2,
        "does not hash to the leaf sealed at its position",
    ),
    "a deleted middle row": (
        UNGUARDED + "DELETE FROM audit.audit_log WHERE id = {r[2]}",
        -2,
        3,
        "the row sealed at this position is missing",
    ),
    "a deleted tail": (
        UNGUARDED + "DELETE FROM audit.audit_log WHERE id = {r[4]}",
        0,
        None,
        "the block has fewer rows than it sealed",
    ),
    "a forged row with the txid of a sealed transaction": (
        "INSERT INTO audit.audit_log SELECT id + 1000, table_name, 'DELETE', new_data, NULL, actor_id, changed_at, "
        "kind, schema_name, txid, statement_at, wall_at, login_role, effective_role, application_name, client_addr, "
        "client_port, resource, success, client_ip, user_agent, metadata FROM audit.audit_log WHERE id = {r[4]}",
        1,
        "forged",
        "a row was added to a sealed block",
    ),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_a_superusers_tampering_is_caught_at_the_first_bad_position(host, sealed_batch, copy, case):
    head, rows = sealed_batch
    statement, offset, found, why = TAMPERING[case]
    tamper(host, copy, statement.format(r=rows))
    caught = chain_verify(host, copy, seal=False)
    assert caught["ok"] is False and why in caught["broken"]["reason"], caught["reason"]
    assert caught["broken"]["position"] == head["size"] + offset
    expected = rows[4] + 1000 if found == "forged" else None if found is None else rows[found]
    assert caught["broken"]["id"] == expected, caught["broken"]


@pytest.mark.parametrize(
    "statement, then, why",
    [
        (
            "DELETE FROM audit.audit_log WHERE id >= {r[0]}; DELETE FROM audit.chain_block WHERE block = {b}",
            "SELECT 1",
            "the rows after it and their blocks were deleted",
        ),
        (
            "UPDATE audit.audit_log SET actor_id = 'someone else' WHERE id = {r[2]};"
            "DELETE FROM audit.chain_block WHERE block = {b}",
            "SELECT audit.seal()",
            "the chain was rewritten at or before",
        ),
    ],
    ids=["a deleted tail with its block", "a consistent rewrite"],
)
def test_what_is_consistent_in_itself_is_caught_against_the_last_checkpoint(
    host, sealed_batch, copy, statement, then, why
):
    head, rows = sealed_batch
    checkpoint = dict(size=head["size"], root=head["root"])
    assert chain_verify(host, copy, seal=False, checkpoint=checkpoint)["extends"] is True
    tamper(host, copy, UNGUARDED + UNBLOCKED + statement.format(r=rows, b=head["block"]), then)
    alone = chain_verify(host, copy, seal=False)
    assert alone["ok"] is True, alone["reason"]
    caught = chain_verify(host, copy, seal=False, checkpoint=checkpoint)
    assert caught["ok"] is False and caught["extends"] is False and why in caught["reason"], caught["reason"]
    # The fleet's own chain is untouched and still extends it.
    assert chain_verify(host, seal=False, checkpoint=checkpoint)["ok"] is True
