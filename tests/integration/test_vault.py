"""The audit vault (roles/audit_vault, docs/vault.md) on one fleet shared by every test here.

One vault (PostgreSQL 15) keeps the trail of two sources (15 and 17); they share a docker volume
in which each source listens on a socket directory of its own (containers have no network).
site.yml sets it all up: first in check mode (nothing changes), then for real, then again
(nothing changes). The first source also keeps a hash-chained trail in a second database (the
signed checkpoints verify.yml stores in the vault). The tests then run in file order on that
fleet: the checkpoints in the vault, forward-only (a superuser
rewrites the sources' logs; the vault keeps every row and vault_verify.yml names each one), a
vault that is down for a while (nothing is lost), and last, because it breaks the slot for good,
a vault that stays down (the source keeps running; the slot is capped, then lost, and reported).
"""

import json
import os
import re
import subprocess
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pgaudit_testlib import succeeded
from testbed import ROOT, PlaybookRun, docker, image_exists, run_ansible, start_host

from ansible_collections.pgtrail.audit.plugins.plugin_utils import checkpoint as cp

DB = "shop"
# A hash-chained trail on the first source: verify.yml signs its heads and stores them in the vault.
LEDGER = "ledger"
PASSWORD = "vault-s3cret"


def make_key(name="pgtrail.audit/vault-test"):
    """The inventory variables of a fresh checkpoint key (playbooks/keygen.yml makes them the same way)."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return dict(
        pgtrail_checkpoint_key=pem, pgtrail_checkpoint_key_name=name, pgtrail_checkpoint_vkey=cp.vkey_of(name, key)
    )


# The fleet's checkpoint key: verify.yml signs with it, vault_verify.yml verifies with its vkey.
KEY = make_key()


def inventory(vault, sources, with_vault=True):
    """The fleet's inventory: the sources in postgres, the vault in audit_vault (or nowhere)."""
    inv = {
        "all": {
            "vars": {
                "ansible_connection": "community.docker.docker",
                "ansible_become_method": "su",
                "audit_triggers_databases": {DB: {"tables": ["public.orders"]}},
                "audit_vault_password": PASSWORD,
                "audit_vault_hba_line": "local all pgtrail_vault scram-sha-256",
                "audit_vault_max_slot_wal_keep_size": "64MB",
                "audit_vault_reader_roles": ["auditor"],
                "audit_vault_log_interval": 2,
                **KEY,
            }
        },
        "postgres": {"hosts": {s.name: {"audit_vault_conninfo": "host=/shared/%s" % s.name} for s in sources}},
    }
    inv["postgres"]["hosts"][sources[0].name]["audit_triggers_databases"] = {
        DB: {"tables": ["public.orders"]},
        LEDGER: {"tables": ["public.entries"], "hash_chain": True},
    }
    if with_vault:
        inv["audit_vault"] = {"hosts": {vault.name: {}}}
    return inv


def playbook(name, inv, *args):
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as handle:
        yaml.safe_dump(inv, handle, sort_keys=False)
    try:
        proc, report = run_ansible(["ansible-playbook", "-i", handle.name, str(ROOT / "playbooks" / name), *args])
    finally:
        os.unlink(handle.name)
    return PlaybookRun(proc, report)


def state(vault, sources):
    """What the vault setup makes, on every host: vault databases, publications, slots, logins."""
    return dict(
        vault=vault.psql("SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database"),
        **{
            s.name: s.psql(
                "SELECT (SELECT count(*) FROM pg_replication_slots) || ',' || "
                "(SELECT count(*) FROM pg_roles WHERE rolname = 'pgtrail_vault') || ',' || "
                "current_setting('wal_level')"
            )
            for s in sources
        },
    )


@pytest.fixture(scope="module")
def fleet():
    for major in (15, 17):
        if not image_exists(major):
            pytest.skip("no PostgreSQL %d image" % major)
    volume = "pgtrail-vault-" + uuid.uuid4().hex[:8]
    subprocess.run(["docker", "volume", "create", volume], check=True, capture_output=True)
    hosts = []
    try:
        with ThreadPoolExecutor(3) as pool:
            hosts = list(pool.map(lambda major: start_host(major, docker_args="-v %s:/shared" % volume), (15, 15, 17)))
        vault, sources = hosts[0], hosts[1:]
        vault.psql("CREATE ROLE auditor")
        for source in sources:
            # The test bed's stand-in for the network: a socket directory on the shared volume
            # (a real fleet gives audit_vault_conninfo as host=... port=...). site.yml's restart
            # (pgaudit's preload, wal_level) brings it up.
            source.sh(
                'install -d -o postgres -m 755 /shared/{n} && echo "unix_socket_directories = '
                "'/var/run/postgresql,/shared/{n}'\" > /etc/postgresql/{m}/main/conf.d/vault.conf".format(
                    n=source.name, m=source.major
                )
            )
            source.psql("CREATE ROLE app_owner; CREATE DATABASE %s" % DB)
            source.psql(
                "CREATE TABLE public.orders (id int PRIMARY KEY, item text); "
                "ALTER TABLE public.orders OWNER TO app_owner",
                db=DB,
            )
        sources[0].psql("CREATE DATABASE %s" % LEDGER)
        sources[0].psql(
            "CREATE TABLE public.entries (id int PRIMARY KEY, amount int); "
            "ALTER TABLE public.entries OWNER TO app_owner",
            db=LEDGER,
        )
        inv = inventory(vault, sources)
        # The fleet as it was before it had a vault: pgaudit and the trail, nothing of the vault.
        runs = dict(without=playbook("site.yml", inventory(vault, sources, with_vault=False)))
        runs["before"] = state(vault, sources)
        runs["check"] = playbook("site.yml", inv, "--check")
        runs["after_check"] = state(vault, sources)
        runs["converge"] = playbook("site.yml", inv)
        runs["again"] = playbook("site.yml", inv)
        yield vault, sources, inv, runs
    finally:
        for host in hosts:
            docker("rm", "-f", host.name, check=False)
        subprocess.run(["docker", "volume", "rm", "-f", volume], capture_output=True, check=False)


def store(source):
    return "%s/%s" % (source.name, DB)


def log_store(source, sources):
    """The vault database that keeps the source's server log: that of its first trail database by
    name (the first source's are shop and ledger, inventory() says)."""
    return "%s/%s" % (source.name, min([DB, LEDGER] if source is sources[0] else [DB]))


def vault_ids(vault, source):
    return vault.psql(
        "SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM audit.audit_log", db=store(source)
    )


def source_ids(source):
    return source.psql("SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM audit.audit_log", db=DB)


def wait_for(what, check, timeout=60):
    for _attempt in range(timeout * 4):
        if check():
            return
        time.sleep(0.25)
    raise AssertionError("timed out waiting for %s" % what)


def caught_up(vault, source):
    """Every row of the source's log is in the vault."""
    want = set(filter(None, source_ids(source).split(",")))
    wait_for(
        "%s's rows in the vault" % source.name,
        lambda: want <= set(filter(None, vault_ids(vault, source).split(","))),
    )


def test_without_a_vault_group_site_yml_sets_up_nothing_of_the_vault(fleet):
    vault, sources, _inv, runs = fleet
    assert runs["without"].rc == 0, runs["without"].output
    assert runs["before"] == dict(vault="postgres,template0,template1", **{s.name: "0,0,replica" for s in sources}), (
        runs["before"]
    )
    assert runs["without"].changed_tasks(vault.name) == []


def test_check_mode_changes_nothing_then_the_setup_converges_and_a_second_run_changes_nothing(fleet):
    vault, sources, _inv, runs = fleet
    assert runs["check"].rc == 0, runs["check"].output
    assert runs["after_check"] == runs["before"]
    assert runs["converge"].rc == 0, runs["converge"].output
    assert runs["again"].rc == 0, runs["again"].output
    for host in [vault] + sources:
        assert runs["again"].changed_tasks(host.name) == [], host.name
    # The check run predicted the vault's and the sources' vault tasks, but one: systemd cannot
    # start a timer whose unit is not written yet, so check mode skips that task and predicts the
    # unit's file instead.
    units, timer = "Write the shipper's service and timer", "Enable and start the shipper's timer"
    for host in [vault] + sources:
        vault_tasks = [t for t in runs["converge"].changed_tasks(host.name) if "vault" in t.lower()]
        assert vault_tasks, host.name
        predicted = runs["check"].changed_tasks(host.name)
        assert {t for t in vault_tasks if not t.endswith(timer)} <= set(predicted), host.name
        if any(t.endswith(timer) for t in vault_tasks):
            assert any(t.endswith(units) for t in predicted), host.name
    for source in sources:
        assert source.psql("SHOW wal_level") == "logical"
        assert source.psql("SHOW max_slot_wal_keep_size") == "64MB"
        # The vault's login holds the least it needs: no superuser, no role, SELECT on the log only.
        assert source.psql(
            "SELECT rolreplication::text || rolsuper::text || (SELECT count(*) FROM pg_auth_members m "
            "WHERE m.member = r.oid) FROM pg_roles r WHERE rolname = 'pgtrail_vault'"
        ) == ("truefalse0")
        assert source.psql(
            "SELECT string_agg(table_schema || '.' || table_name || ':' || privilege_type, ',') "
            "FROM information_schema.role_table_grants WHERE grantee = 'pgtrail_vault'",
            db=DB,
        ) == ("audit.audit_log:SELECT")
        assert source.psql(
            "SELECT pubinsert::text || pubupdate::text || pubdelete::text || pubtruncate::text "
            "FROM pg_publication WHERE pubname = 'pgtrail_vault'",
            db=DB,
        ) == ("truefalsefalsefalse")
        caught_up(vault, source)


def test_without_a_vault_group_the_vault_plays_have_no_hosts(fleet):
    vault, sources, _inv, _runs = fleet
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as handle:
        yaml.safe_dump(inventory(vault, sources, with_vault=False), handle)
    try:
        listed = subprocess.run(
            ["ansible-playbook", "-i", handle.name, "--list-hosts", str(ROOT / "playbooks" / "site.yml")],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
        ).stdout
    finally:
        os.unlink(handle.name)
    plays = listed.split("play #")[1:]
    vault_plays = [p for p in plays if "vault" in p.splitlines()[0].lower()]
    assert len(vault_plays) == 2, listed
    for play in vault_plays:
        assert "hosts (0)" in play, play


def test_only_the_vault_owner_may_change_the_vault_and_what_it_does_is_recorded(fleet):
    vault, sources, _inv, _runs = fleet
    db = store(sources[0])
    for statement in (
        "UPDATE audit.audit_log SET action = 'x'",
        "DELETE FROM audit.audit_log",
        "TRUNCATE audit.audit_log",
    ):
        refused = vault.psql(statement, db=db, check=False)
        assert refused.returncode != 0 and "only vault_owner may change the vault" in refused.stderr, statement
    # A reader reads, and nothing else.
    assert vault.psql("SET ROLE auditor; SELECT count(*) > 0 FROM audit.audit_log", db=db) == "t"
    denied = vault.psql("SET ROLE auditor; DELETE FROM audit.audit_log", db=db, check=False)
    assert "permission denied" in denied.stderr
    # The owner may, and its statement is recorded.
    vault.psql("SET ROLE vault_owner; DELETE FROM audit.audit_log WHERE id < 0", db=db)
    recorded = vault.psql(
        "SELECT session_user_name || ':' || command || ':' || statement FROM audit.vault_owner_actions", db=db
    )
    assert recorded.startswith("postgres:DELETE:") and "DELETE FROM audit.audit_log WHERE id < 0" in recorded
    # PUBLIC may not even connect.
    assert vault.psql("SELECT has_database_privilege('public', %s, 'CONNECT')" % ("'%s'" % db)) == "f"


def stored_notes(vault, source):
    """The notes the vault holds for the source's ledger, in the order stored."""
    out = vault.psql(
        "SELECT coalesce(json_agg(note ORDER BY stored_at, block), '[]') FROM audit.checkpoints",
        db="%s/%s" % (source.name, LEDGER),
    )
    return json.loads(out)


@pytest.fixture(scope="module")
def signed(fleet, tmp_path_factory):
    """verify.yml run twice on the fleet, each after a write to the ledger. Returns the runs and
    the ledger's history on the controller."""
    _vault, sources, inv, _runs = fleet
    a = sources[0]
    state_dir = tmp_path_factory.mktemp("verify")
    dirs = json.dumps(
        dict(pgtrail_checkpoint_dir=str(state_dir / "checkpoints"), pgtrail_chain_dir=str(state_dir / "heads"))
    )
    runs = []
    for rows in ((1, 2), (3, 4)):
        for row in rows:
            a.psql("INSERT INTO public.entries VALUES (%d, %d)" % (row, row * 10), db=LEDGER)
        runs.append(playbook("verify.yml", inv, "-e", dirs))
    return runs, state_dir / "checkpoints" / a.name / ("%s.checkpoints" % LEDGER)


STORE_TASK = "Keep each source database's signed checkpoints in its vault database (the loop label names both)"
SAY_TASK = "Say, per source database, what differs from the vault"


def test_verify_yml_keeps_each_new_signed_checkpoint_in_the_vault_once(fleet, signed):
    vault, sources, _inv, _runs = fleet
    runs, history = signed
    for run in runs:
        assert run.rc == 0, run.output
    notes = [json.loads(line)["note"] for line in history.read_text().splitlines()]
    # Two writes, two new heads, each signed once; the vault holds the same notes in the same order,
    # each once: the second run gave it the whole history and it added the new note only.
    assert len(notes) == 2
    assert stored_notes(vault, sources[0]) == notes
    added = [
        [item["added"] for item in result["results"] if not item.get("skipped")]
        for run in runs
        for name, result in run.results(vault.name)
        if name.endswith(STORE_TASK)
    ]
    assert added == [[1], [1]]
    # The vault keeps them write-once: only its owner may change them (and is recorded).
    refused = vault.psql("DELETE FROM audit.checkpoints", db="%s/%s" % (sources[0].name, LEDGER), check=False)
    assert "only vault_owner may change the vault" in refused.stderr


def checkpoint_messages(run, vault):
    results = dict((name.split(" : ")[-1], result) for name, result in run.results(vault.name))
    # The server log's results (no counts) share the loop with the log copies'.
    return [
        r["msg"]
        for r in results[SAY_TASK]["results"]
        if r["item"]["item"]["database"] == LEDGER and "counts" in r["item"]
    ]


def quoted(text):
    """A dollar-quoted SQL literal (a note holds newlines and quotes of neither kind)."""
    assert "$n$" not in text
    return "$n$%s$n$" % text


@pytest.mark.parametrize(
    "tamper, problem",
    [
        pytest.param("edit", "checkpoint 2: the signature of .* does not verify", id="edited-by-the-vault-owner"),
        pytest.param("back", "checkpoint 3 goes back: size [0-9]+ after [0-9]+", id="signed-but-going-back"),
    ],
)
def test_a_stored_checkpoint_that_is_edited_or_goes_back_fails_vault_verify_naming_it(fleet, signed, tamper, problem):
    vault, sources, inv, _runs = fleet
    key = KEY
    db = "%s/%s" % (sources[0].name, LEDGER)
    notes = stored_notes(vault, sources[0])
    first, last = (cp.parse_checkpoint(cp.open_note(n, key["pgtrail_checkpoint_vkey"])) for n in (notes[0], notes[-1]))
    assert first["size"] < last["size"]
    if tamper == "edit":
        # The vault's owner may change the table (recorded); the signature then fails.
        edited = notes[-1].replace("\n%d\n" % last["size"], "\n%d\n" % (last["size"] + 1), 1)
        vault.psql(
            "SET ROLE vault_owner; UPDATE audit.checkpoints SET note = %s WHERE note = %s"
            % (quoted(edited), quoted(notes[-1])),
            db=db,
        )
    else:
        # A superuser of the vault stores the first head again, signed by the key: it goes back.
        private = serialization.load_pem_private_key(key["pgtrail_checkpoint_key"].encode(), password=None)
        text = cp.checkpoint_text(first["origin"], first["size"], first["root"])
        note = cp.sign(text, key["pgtrail_checkpoint_key_name"], private)
        vault.psql(
            "INSERT INTO audit.checkpoints (origin, block, note) VALUES (%s, 1, %s)"
            % (quoted(first["origin"]), quoted(note)),
            db=db,
        )
    try:
        run = playbook("vault_verify.yml", inv)
        assert run.rc != 0
        (message,) = checkpoint_messages(run, vault)
        assert re.search("the checkpoints in the vault do not verify: " + problem, message), message
    finally:
        # Put the vault back for the next tests, as its owner (recorded).
        restore = (
            "UPDATE audit.checkpoints SET note = %s WHERE note = %s" % (quoted(notes[-1]), quoted(edited))
            if tamper == "edit"
            # Ed25519 signs deterministically: the forged note is the first one again, byte for
            # byte, so only the newest row of it goes.
            else "DELETE FROM audit.checkpoints WHERE ctid = (SELECT ctid FROM audit.checkpoints"
            " WHERE note = %s ORDER BY stored_at DESC LIMIT 1)" % quoted(note)
        )
        vault.psql("SET ROLE vault_owner; " + restore, db=db)
    assert stored_notes(vault, sources[0]) == notes


def test_forward_only_a_superusers_update_delete_and_truncate_stay_in_the_vault_and_verify_names_them(fleet, signed):
    vault, sources, inv, _runs = fleet
    a, b = sources
    for source in sources:
        source.psql("INSERT INTO public.orders VALUES (1, 'one'), (2, 'two'), (3, 'three')", db=DB)
        caught_up(vault, source)
    kept = {s.name: vault_ids(vault, s) for s in sources}
    rows = a.psql("SELECT string_agg(id::text, ',' ORDER BY id) FROM audit.audit_log WHERE action = 'INSERT'", db=DB)
    altered, deleted = rows.split(",")[:2]
    a.psql('UPDATE audit.audit_log SET new_data = \'{"id": 1, "item": "forged"}\' WHERE id = %s' % altered, db=DB)
    a.psql("DELETE FROM audit.audit_log WHERE id = %s" % deleted, db=DB)
    truncated = source_ids(b).split(",")
    b.psql("TRUNCATE audit.audit_log", db=DB)
    # Later rows still arrive; the originals are all still there.
    for source in sources:
        source.psql("INSERT INTO public.orders VALUES (4, 'four')", db=DB)
        caught_up(vault, source)
        assert vault_ids(vault, source).startswith(kept[source.name])
    assert vault.psql("SELECT new_data->>'item' FROM audit.audit_log WHERE id = %s" % altered, db=store(a)) == "one"

    run = playbook("vault_verify.yml", inv)
    assert run.rc != 0
    # Task names as the json callback gives them ("ROLE : NAME" for a role's tasks).
    results = dict((name.split(" : ")[-1], result) for name, result in run.results(vault.name))
    compared = {
        (r["item"]["host"], r["item"]["database"]): r
        for r in results["Compare the source database's log with its vault database (the loop label names both)"][
            "results"
        ]
    }
    assert compared[a.name, DB]["altered_on_source"] == [int(altered)]
    assert compared[a.name, DB]["missing_on_source"] == [int(deleted)]
    assert compared[b.name, DB]["missing_on_source"] == [int(i) for i in truncated]
    assert compared[a.name, DB]["counts"]["not_in_vault"] == 0
    failure = run.failure(vault.name)
    assert failure is not None
    messages = json.dumps(results["Say, per source database, what differs from the vault"])
    assert "altered on the source (ids %s)" % altered in messages
    assert "missing on the source (ids %s)" % deleted in messages
    assert "missing on the source (ids %s)" % ", ".join(truncated) in messages
    # The ledger's log is untouched, and its signed checkpoints in the vault verify.
    assert checkpoint_messages(run, vault) == [
        "%s database %s: every row of the vault's copy is on the source, unchanged; "
        "2 signed checkpoint(s) in the vault verify, each extending the one before" % (a.name, LEDGER)
    ]


# ---- pgaudit's AUDIT lines in the vault (the sources' jsonlog, pulled by the vault's timer) ----

# One statement per pgaudit class, all in one session (pgaudit.log = 'all' for it): the class, the
# class pgaudit writes in the line (MISC_SET's statements are written as MISC: seen on 15 and 17),
# the command pgaudit names, and the statement.
CLASSES = [
    ("READ", "READ", "SELECT", "SELECT count(*), '{token}' FROM public.orders"),
    ("WRITE", "WRITE", "INSERT", "INSERT INTO public.orders VALUES (700, '{token}, with a comma')"),
    ("FUNCTION", "FUNCTION", "DO", "DO $$ BEGIN PERFORM '{token}'; END $$"),
    ("ROLE", "ROLE", "CREATE ROLE", 'CREATE ROLE "r_{token}"'),
    ("DDL", "DDL", "CREATE TABLE", 'CREATE TABLE public."t_{token}" (a int, "b,c" text)'),
    ("MISC", "MISC", "CHECKPOINT", "CHECKPOINT"),
    ("MISC_SET", "MISC", "SET", "SET work_mem = '2MB'"),
]


def server_log(vault, sources, source, query):
    return vault.psql(query, db=log_store(source, sources))


@pytest.fixture(scope="module")
def audited_sessions(fleet):
    """One session of every class's statements on each source; {source name: token}."""
    _vault, sources, _inv, _runs = fleet
    sessions = {}
    for source in sources:
        token = "cls" + uuid.uuid4().hex[:8]
        statements = ["SET pgaudit.log = 'all'"] + [s.format(token=token) for _c, _l, _m, s in CLASSES]
        source.psql(";\n".join(statements) + ";", db=DB)
        sessions[source.name] = token
    return sessions


@pytest.mark.parametrize("klass, label, command, statement", CLASSES, ids=[c[0] for c in CLASSES])
@pytest.mark.parametrize("which", [0, 1], ids=["pg15", "pg17"])
def test_statements_of_each_class_reach_the_vault_as_audit_rows(
    fleet, audited_sessions, which, klass, label, command, statement
):
    vault, sources, _inv, _runs = fleet
    source = sources[which]
    token = audited_sessions[source.name]
    # The session is the one whose READ line holds the token.
    find = "SELECT DISTINCT session_id FROM audit.server_log WHERE class = 'READ' AND statement LIKE '%%%s%%'" % token
    wait_for("the AUDIT lines of %s in the vault" % source.name, lambda: server_log(vault, sources, source, find) != "")
    session = server_log(vault, sources, source, find)
    want = "|".join(["SESSION", label, command, statement.format(token=token), DB, "postgres"])
    rows = (
        "SELECT string_agg(concat_ws('|', audit_type, class, command, rtrim(statement, ';'), database_name,"
        " user_name), E'\\n')"
        " FROM audit.server_log WHERE session_id = '%s'" % session
    )
    wait_for(
        "the %s line of %s" % (klass, source.name), lambda: want in server_log(vault, sources, source, rows).split("\n")
    )
    # The line's session, line number, time and client are kept; its statement id is pgaudit's.
    assert (
        server_log(
            vault,
            sources,
            source,
            "SELECT bool_and(line_num IS NOT NULL AND log_time IS NOT NULL AND client = '[local]'"
            " AND statement_id > 0 AND substatement_id > 0)"
            " FROM audit.server_log WHERE session_id = '%s' AND class = '%s'" % (session, label),
        )
        == "t"
    )


def test_the_server_log_in_the_vault_is_guarded_and_has_no_gap_in_normal_operation(fleet, audited_sessions):
    vault, sources, _inv, _runs = fleet
    for source in sources:
        db = log_store(source, sources)
        refused = vault.psql("DELETE FROM audit.server_log", db=db, check=False)
        assert refused.returncode != 0 and "only vault_owner may change the vault" in refused.stderr
        assert vault.psql("SET ROLE auditor; SELECT count(*) > 0 FROM audit.server_log", db=db) == "t"
        assert vault.psql("SELECT count(*) FROM audit.server_log_gaps", db=db) == "0", source.name
        # The DBA's own log is still written (stderr, now through the collector), beside the jsonlog.
        assert (
            source.psql("SELECT pg_current_logfile('stderr') IS NOT NULL AND pg_current_logfile('jsonlog') IS NOT NULL")
            == "t"
        )
    # The vault's login reads the log directory's .json files through the two functions only.
    a = sources[0]
    denied = a.psql("SET ROLE pgtrail_vault; SELECT pg_read_binary_file('global/pg_control')", db=DB, check=False)
    assert "permission denied" in denied.stderr
    outside = (
        "SET ROLE pgtrail_vault; SELECT pgtrail_vault_log.server_log_read('../postgresql.auto.conf', 0, 100) IS NULL"
    )
    assert a.psql(outside, db=DB) == "t"


def test_a_removed_log_file_is_a_gap_that_vault_verify_reports(fleet):
    vault, sources, inv, _runs = fleet
    a = sources[0]
    token = "gap" + uuid.uuid4().hex[:8]
    vault.sh("systemctl stop pgtrail-vault-logs.timer")
    try:
        # One session across three files: the server's log is rotated twice while it runs.
        statements = [
            "SET pgaudit.log = 'read'",
            "SELECT '%s-1'" % token,
            "SELECT pg_rotate_logfile()",
            "SELECT pg_sleep(1.2)",
            "SELECT '%s-2'" % token,
            "SELECT pg_rotate_logfile()",
            "SELECT pg_sleep(1.2)",
            "SELECT '%s-3'" % token,
        ]
        a.psql(";\n".join(statements) + ";", db=DB)
        middle = a.sh("grep -l -- '%s-2' /var/lib/postgresql/%d/main/log/*.json" % (token, a.major)).stdout.split()
        assert len(middle) == 1, middle
        a.sh("rm %s" % middle[0])
        run = playbook("vault_verify.yml", inv)
    finally:
        vault.sh("systemctl start pgtrail-vault-logs.timer")
    assert run.rc != 0
    db = log_store(a, sources)
    last = "SELECT session_id FROM audit.server_log WHERE rtrim(statement, ';') = %s" % ("'SELECT ''%s-3'''" % token)
    session = vault.psql(last, db=db)
    assert session, "the lines after the removed file reached the vault"
    gap = vault.psql(
        "SELECT first_line || '-' || last_line FROM audit.server_log_gaps WHERE kind = 'lines' AND session_id = '%s'"
        % session,
        db=db,
    )
    assert gap != "", "the session's lost lines are a recorded gap"
    results = dict((name.split(" : ")[-1], result) for name, result in run.results(vault.name))
    (said,) = [
        r["msg"]
        for r in results[SAY_TASK]["results"]
        if r["item"]["item"]["host"] == a.name and "counts" not in r["item"]
    ]
    # The removed file's other gaps (the file itself) may come first in the sentence.
    assert said.startswith("%s server log: " % a.name), said
    assert "session %s: line(s) %s to %s missing" % ((session,) + tuple(gap.split("-"))) in said, said


def slots(source):
    facts = succeeded(source.module("audit_info", dict(databases=[DB], verify_chain=False)))
    oid = source.psql("SELECT oid FROM pg_database WHERE datname = '%s'" % DB)
    (slot,) = [s for s in facts["replication"]["vault_slots"] if s["slot_name"] == "pgtrail_vault_%s" % oid]
    return slot, facts.get("warnings", [])


def test_a_vault_down_for_a_while_loses_nothing(fleet):
    vault, sources, _inv, _runs = fleet
    a = sources[0]
    vault.sh("systemctl stop postgresql@15-main")
    try:
        a.psql(
            "INSERT INTO public.orders SELECT g, 'while the vault is down' FROM generate_series(100, 299) AS g", db=DB
        )
        slot, warnings = slots(a)
        assert slot["active"] is False and slot["lost"] is False and slot["retained_bytes"] > 0
        assert any("is inactive and retains" in w for w in warnings), warnings
    finally:
        vault.sh("systemctl start postgresql@15-main")
    caught_up(vault, a)
    assert vault.psql(
        "SELECT count(*) FROM audit.audit_log WHERE new_data->>'item' = 'while the vault is down'", db=store(a)
    ) == ("200")
    slot, _warnings = slots(a)
    assert slot["active"] is True and slot["wal_status"] == "reserved"


def test_a_vault_that_stays_down_cannot_fill_the_sources_disk(fleet):
    vault, sources, _inv, _runs = fleet
    b = sources[1]
    vault.sh("systemctl stop postgresql@15-main")
    # More WAL than max_slot_wal_keep_size (64MB): each switch starts a new 16MB segment.
    for n in range(8):
        b.psql("INSERT INTO public.orders VALUES (%d, 'wal'); SELECT pg_switch_wal()" % (1000 + n), db=DB)
    b.psql("CHECKPOINT")
    slot, warnings = slots(b)
    assert slot["lost"] is True and slot["wal_status"] == "lost"
    assert slot["max_slot_wal_keep_size"] == "64MB"
    assert any("is lost" in w for w in warnings), warnings
    # The source keeps running and writing.
    b.psql("INSERT INTO public.orders VALUES (2000, 'after the slot was lost')", db=DB)
    assert b.psql("SELECT count(*) FROM pg_ls_waldir()") != ""
