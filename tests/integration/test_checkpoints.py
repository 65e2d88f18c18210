"""Signed checkpoints end to end: the checkpoint action plugin on the controller, keygen.yml, and
verify.yml, which signs each chain's head, checks that the next one extends it, and refuses an
edited history, a consistent rewrite of what a checkpoint covers, and a wrong key.

The verify.yml tests that need chain v2 (the chain_verify `checkpoint` option and a head with
`origin`, from h-chain-sql's branch) skip, naming why, until it is merged; the plugin, keygen and
unsigned-fallback tests run now. The logic is the controller's: one major (17) suffices.
"""

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pgaudit_testlib import Objects, chain_v2_merged, succeeded
from testbed import ROOT, run_ansible, run_playbook

from ansible_collections.pgtrail.audit.plugins.plugin_utils import checkpoint as cp

ORIGIN = "pgtrail.audit/chain/0b5c1d0e-2b1a-4c55-9a53-1b3c0f0a9e11"
ROOT_A = "KMislKjXHUCDDW0uHNAdb9Err3lNTGFyU+Jb7oEbOpQ="
ROOT_B = "Fw0bFklHnjd23Aj086LjU8wpX/+Mqg71/SlnAubT7rU="


# The tests that need chain v2 (chain_block, seal(), chain_verify's checkpoint and head.origin).
needs_v2 = pytest.mark.skipif(
    not chain_v2_merged(), reason="chain v2 (h-chain-sql's branch: chain_verify's checkpoint) is not merged yet"
)
VERIFY_TASK = "Walk each chain and check it still holds its last checkpoint (the loop label names the database)"


def make_key(name):
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return dict(
        pgtrail_checkpoint_key=pem, pgtrail_checkpoint_key_name=name, pgtrail_checkpoint_vkey=cp.vkey_of(name, key)
    )


KEY_A = make_key("pgtrail.audit/test-a")
KEY_B = make_key("pgtrail.audit/test-b")


def lines(path):
    return path.read_text().splitlines() if path.exists() else []


# --- the plugin and keygen on the controller (no database) -------------------------------------


def run_local(tmp_path, tasks):
    playbook = tmp_path / "local.yml"
    playbook.write_text(
        json.dumps([{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": tasks}])
    )
    proc, report = run_ansible(["ansible-playbook", "-i", "localhost,", str(playbook)])
    results = [task["hosts"]["localhost"] for task in report["plays"][0]["tasks"]]
    return proc, results


def sign_task(history, head, key=None, check=False, **extra):
    key = KEY_A if key is None else key
    args = dict(
        history=str(history),
        vkey=key["pgtrail_checkpoint_vkey"],
        key=key["pgtrail_checkpoint_key"],
        key_name=key["pgtrail_checkpoint_key_name"],
    )
    if head is not None:
        args["head"] = head
    args.update(extra)
    return {"pgtrail.audit.checkpoint": args, "ignore_errors": True, "check_mode": check}


def test_the_plugin_appends_signed_heads_that_go_forward_and_refuses_the_others(tmp_path):
    history = tmp_path / "h" / "db.checkpoints"
    head = dict(origin=ORIGIN, size=7, root=ROOT_A, block=3)
    _proc, results = run_local(
        tmp_path,
        [
            sign_task(history, head, check=True),  # 0 check mode: would append, writes nothing
            sign_task(history, head),  # 1 first checkpoint
            sign_task(history, head),  # 2 the same head: nothing appended
            sign_task(history, dict(head, root=ROOT_B)),  # 3 same size, another root
            sign_task(history, dict(head, size=6)),  # 4 goes back
            sign_task(history, dict(head, origin=ORIGIN[:-1] + "2", size=9)),  # 5 another chain
            sign_task(history, dict(head, size=9, root=ROOT_B, block=4)),  # 6 goes forward
            sign_task(history, None),  # 7 read only: the last entry
            sign_task(history, None, key=KEY_B),  # 8 another key's verifier: refused
            sign_task(history, None, vkey=KEY_B["pgtrail_checkpoint_vkey"]),  # 9 key A with vkey B
            sign_task(history, dict(head, size=10), key_name="other"),  # 10 renamed key
        ],
    )
    assert results[0]["changed"] and not results[0].get("failed")
    assert results[1]["changed"] and not results[1].get("failed")
    assert not results[2]["changed"] and not results[2].get("failed")
    assert "another root" in results[3]["msg"]
    assert "below the last checkpoint" in results[4]["msg"]
    assert "is of chain %s" % ORIGIN in results[5]["msg"]
    assert results[6]["changed"]
    assert results[7]["previous"]["size"] == 9 and results[7]["previous"]["block"] == 4
    assert "no signature of the key pgtrail.audit/test-b" in results[8]["msg"]
    assert "is not the one of the verifier key" in results[9]["msg"]
    assert "is not the one of the verifier key" in results[10]["msg"]
    # Two entries, each a checkpoint signed by key A; the key appears nowhere in the output.
    entries = [json.loads(line) for line in lines(history)]
    assert [
        cp.parse_checkpoint(cp.open_note(e["note"], KEY_A["pgtrail_checkpoint_vkey"]))["size"] for e in entries
    ] == [
        7,
        9,
    ]
    assert "PRIVATE KEY" not in json.dumps(results)
    # A C2SP note: the checkpoint text, a blank line, the em-dash signature line.
    assert entries[0]["note"].startswith("%s\n7\n%s\n\n\u2014 pgtrail.audit/test-a " % (ORIGIN, ROOT_A))


def test_keygen_writes_a_private_key_once_and_prints_its_verifier_key(tmp_path):
    key_file = tmp_path / "keys" / "checkpoint.pem"
    extra = json.dumps(dict(pgtrail_checkpoint_key_file=str(key_file), pgtrail_checkpoint_key_name="pgtrail.audit/t"))
    for _run in range(2):
        proc, report = run_ansible(["ansible-playbook", str(ROOT / "playbooks" / "keygen.yml"), "-e", extra])
        assert proc.returncode == 0, proc.stdout + proc.stderr
        if _run == 0:
            first = key_file.read_text()
    assert key_file.read_text() == first, "the second run replaced the key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    printed = report["plays"][0]["tasks"][-1]["hosts"]["localhost"]["msg"]
    assert "pgtrail_checkpoint_vkey: " + cp.vkey_of("pgtrail.audit/t", cp.load_private_key(first)) in printed


# --- verify.yml against a database -------------------------------------------------------------


@pytest.fixture(scope="module")
def host(pg):
    if pg.major != 17:
        pytest.skip("the checkpoints are the controller's: one major suffices")
    return pg


def chained_database(host, made):
    """A database with a hash-chained trail on t and a few rows in the log."""
    db = made.database("pgt_ckpt")
    host.psql("CREATE TABLE t (id int PRIMARY KEY, n int)", db=db)
    succeeded(host.module("audit_trail", dict(database=db, tables=["t"], hash_chain=True)))
    host.psql("INSERT INTO t SELECT g, g FROM generate_series(1, 5) AS g", db=db)
    return db


@pytest.fixture(scope="module")
def chained(host):
    """Shared by the tests that only read the chain (each keeps its own history directory)."""
    made = Objects(host)
    yield chained_database(host, made)
    made.drop()


@pytest.fixture
def rewritable(host):
    """A chain of its own, for a test that rewrites it."""
    made = Objects(host)
    yield chained_database(host, made)
    made.drop()


def verify(host, db, tmp_path, key=None):
    key = KEY_A if key is None else key
    variables = dict(audit_triggers_databases={db: {"tables": ["t"], "hash_chain": True}}, **(key or {}))
    run = run_playbook(
        "verify.yml",
        [host],
        group_vars=variables,
        extra_vars=dict(
            pgtrail_checkpoint_dir=str(tmp_path / "checkpoints"), pgtrail_chain_dir=str(tmp_path / "heads")
        ),
    )
    checked = dict(run.results(host.name)).get(VERIFY_TASK, {}).get("results", [])
    return run, checked


def history_of(host, db, tmp_path):
    return tmp_path / "checkpoints" / host.name / ("%s.checkpoints" % db)


def failures(run, host):
    """The messages of the loop items that failed (the task's own message only says some did)."""
    return " | ".join(
        item.get("msg", "")
        for _name, result in run.results(host.name)
        for item in result.get("results", [])
        if result.get("failed") and item.get("failed")
    )


@pytest.fixture(scope="module")
def signed_history(host, chained, tmp_path_factory):
    """The history of the shared chain after one signed run: the tests that forge or refuse start
    from a copy of it."""
    if not chain_v2_merged():
        pytest.skip("chain v2 is not merged yet")
    tmp_path = tmp_path_factory.mktemp("signed")
    run, _checked = verify(host, chained, tmp_path)
    assert run.rc == 0, run.output
    return history_of(host, chained, tmp_path).read_bytes()


def start_from(history, content):
    history.parent.mkdir(parents=True)
    history.write_bytes(content)


def test_without_a_key_the_heads_are_exported_unsigned_and_the_output_says_so(host, chained, tmp_path):
    for expect_first in (True, False):
        run, _checked = verify(host, chained, tmp_path, key={})
        assert run.rc == 0, run.output
        assert "pgtrail_checkpoint_key is not set" in run.output
        assert ("first export" in run.output) is expect_first, run.output
    assert (tmp_path / "heads" / host.name / ("%s.json" % chained)).is_file()
    assert not (tmp_path / "checkpoints").exists()


@needs_v2
def test_first_run_is_trusted_on_first_use_then_each_new_head_is_signed_once(host, chained, tmp_path):
    history = history_of(host, chained, tmp_path)
    run, checked = verify(host, chained, tmp_path)
    assert run.rc == 0, run.output
    assert "trusted on first use" in run.output
    first = cp.last_entry(history.read_text(), KEY_A["pgtrail_checkpoint_vkey"])
    assert first["origin"] == checked[0]["head"]["origin"] and first["size"] == checked[0]["head"]["size"]

    host.psql("INSERT INTO t SELECT g, g FROM generate_series(6, 9) AS g", db=chained)
    run, checked = verify(host, chained, tmp_path)
    assert run.rc == 0, run.output
    assert checked[0]["extends"] is True
    assert checked[0]["invocation"]["module_args"]["checkpoint"] == dict(size=first["size"], root=first["root"])
    assert "extends the signed checkpoint of size %d" % first["size"] in run.output
    second = cp.last_entry(history.read_text(), KEY_A["pgtrail_checkpoint_vkey"])
    assert second["size"] >= first["size"] + 4
    assert len(lines(history)) == 2

    run, _checked = verify(host, chained, tmp_path)
    assert run.rc == 0, run.output
    assert len(lines(history)) == 2, "an unchanged head was signed again"


def edit_size(line):
    entry = json.loads(line)
    body, sig = entry["note"].split("\n\n")
    origin, size, root = body.split("\n")[:3]
    return json.dumps(dict(entry, note="%s\n%d\n%s\n\n%s" % (origin, int(size) + 1, root, sig)))


def resign_with_b(line):
    entry = json.loads(line)
    text = entry["note"].split("\n\n")[0] + "\n"
    key = cp.load_private_key(KEY_B["pgtrail_checkpoint_key"])
    return json.dumps(dict(entry, note=cp.sign(text, KEY_B["pgtrail_checkpoint_key_name"], key)))


@needs_v2
@pytest.mark.parametrize(
    "forge, reason",
    [
        pytest.param(edit_size, "does not verify", id="size-edited"),
        pytest.param(resign_with_b, "no signature of the key", id="signed-by-another-key"),
        pytest.param(lambda line: line[: len(line) // 2], "is not a history entry", id="truncated"),
    ],
)
def test_an_edited_or_forged_history_entry_is_refused_and_nothing_is_signed(
    host, chained, signed_history, tmp_path, forge, reason
):
    history = history_of(host, chained, tmp_path)
    start_from(history, signed_history)
    history.write_text(forge(lines(history)[-1]) + "\n")
    before = history.read_bytes()
    run, _checked = verify(host, chained, tmp_path)
    assert run.rc != 0
    message = failures(run, host)
    assert "database %s" % chained in message and reason in message, run.output
    assert history.read_bytes() == before


@needs_v2
def test_a_consistent_rewrite_of_what_a_checkpoint_covers_is_caught(host, rewritable, tmp_path):
    history = history_of(host, rewritable, tmp_path)
    assert verify(host, rewritable, tmp_path)[0].rc == 0
    before = history.read_bytes()
    # A superuser edits a sealed row, drops every block after block 0 and lets seal() redo them:
    # the chain is valid in itself, but no longer holds the signed root at the signed size.
    host.psql(
        "ALTER TABLE audit.audit_log DISABLE TRIGGER USER; ALTER TABLE audit.chain_block DISABLE TRIGGER USER;"
        "UPDATE audit.audit_log SET changed_at = changed_at - interval '1 day'"
        " WHERE id = (SELECT min(id) FROM audit.audit_log);"
        "DELETE FROM audit.chain_block WHERE block > 0;"
        "ALTER TABLE audit.audit_log ENABLE TRIGGER USER; ALTER TABLE audit.chain_block ENABLE TRIGGER USER;"
        "SELECT audit.seal();",
        db=rewritable,
    )
    run, checked = verify(host, rewritable, tmp_path)
    assert run.rc != 0
    assert checked[0]["ok"] is False and checked[0]["extends"] is False, checked[0]
    message = failures(run, host)
    assert "database %s" % rewritable in message and "no longer extends" in message, run.output
    assert history.read_bytes() == before


@needs_v2
@pytest.mark.parametrize(
    "key, reason",
    [
        pytest.param(KEY_B, "no signature of the key pgtrail.audit/test-b", id="another-key-pair"),
        pytest.param(
            dict(KEY_A, pgtrail_checkpoint_vkey=KEY_B["pgtrail_checkpoint_vkey"]),
            "is not the one of the verifier key",
            id="key-not-the-vkey-s",
        ),
    ],
)
def test_a_wrong_key_is_refused_and_nothing_is_signed(host, chained, signed_history, tmp_path, key, reason):
    history = history_of(host, chained, tmp_path)
    start_from(history, signed_history)
    run, _checked = verify(host, chained, tmp_path, key=key)
    assert run.rc != 0
    message = failures(run, host)
    assert "database %s" % chained in message and reason in message, run.output
    assert "PRIVATE KEY" not in run.output
    assert history.read_bytes() == signed_history


def test_a_signed_bundle_verifies_until_a_file_is_changed_added_or_removed_or_the_key_is_another(tmp_path):
    bundle = tmp_path / "report"
    (bundle / "hosts").mkdir(parents=True)
    (bundle / "fleet-report.md").write_text("# Fleet report\n")
    (bundle / "hosts" / "db1.json").write_text("{}\n")

    def playbook(*extra):
        state, key = extra if extra else ("signed", KEY_A)
        variables = dict(key, pgtrail_bundle_dir=str(bundle), pgtrail_bundle_state=state)
        if state == "verified":
            variables = dict(pgtrail_bundle_dir=str(bundle), pgtrail_bundle_state=state, **{
                "pgtrail_checkpoint_vkey": key["pgtrail_checkpoint_vkey"]})  # fmt: skip
        proc, _report = run_ansible(
            ["ansible-playbook", str(ROOT / "playbooks" / "bundle.yml"), "-e", json.dumps(variables)]
        )
        return proc.returncode, proc.stdout + proc.stderr

    assert playbook()[0] == 0
    note = (bundle / "bundle.note").read_text()
    assert note.startswith("pgtrail.audit/bundle\n") and "  hosts/db1.json\n" in note
    assert playbook("verified", KEY_A)[0] == 0
    assert playbook()[0] == 0 and (bundle / "bundle.note").read_text() == note, "an unchanged bundle was re-signed"

    rc, output = playbook("verified", KEY_B)
    assert rc != 0 and "no signature of the key pgtrail.audit/test-b" in output
    (bundle / "fleet-report.md").write_text("# Fleet report, edited\n")
    (bundle / "added.txt").write_text("x")
    (bundle / "hosts" / "db1.json").unlink()
    rc, output = playbook("verified", KEY_A)
    assert rc != 0
    for problem in ("hosts/db1.json is missing", "fleet-report.md was changed", "added.txt was added"):
        assert problem in output, output
