"""Signed checkpoints: C2SP signed notes with Ed25519, proven against Go's published vector
(golang.org/x/mod/sumdb/note, note_test.go), and the history file's last entry."""

import base64
import json
import re

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ansible_collections.pgtrail.audit.plugins.plugin_utils import checkpoint as cp

# golang.org/x/mod/sumdb/note's TestSign/TestOpen: the signer key (0x01 || seed after the name and id),
# its verifier key and the signed note Go produces.
GO_SKEY_SEED = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_SIG = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
GO_ENOCH_SIG = (
    "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
)
GO_NOTE = GO_TEXT + "\n" + GO_SIG

# docs/chain-v2.md's example checkpoint and its throwaway verifier key.
DOC_VKEY = "pgtrail.audit/acme-prod+170d1b16+ARn74IFXhOWTrN81nuhUg+CU9bxrIIJEAQKUzZ2ccI6B"
DOC_NOTE = (
    "pgtrail.audit/chain/6f1c2d0e-2b1a-4c55-9a53-1b3c0f0a9e11\n7\nKMislKjXHUCDDW0uHNAdb9Err3lNTGFyU+Jb7oEbOpQ=\n\n"
    "\u2014 pgtrail.audit/acme-prod "
    "Fw0bFklHnjd23Aj086LjU8wpX/+Mqg71/SlnAubT7rXnNBFfSx6zSCapBF7iEoM2o8Tz7TwFrVCXu+KaOXIKnQ7LPQc=\n"
)

ROOT = base64.b64encode(b"\x11" * 32).decode()
ORIGIN = "pgtrail.audit/chain/6f1c2d0e-2b1a-4c55-9a53-1b3c0f0a9e11"


def go_key():
    return Ed25519PrivateKey.from_private_bytes(GO_SKEY_SEED)


def pem(key):
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def test_signing_go_s_vector_gives_go_s_note_byte_for_byte():
    assert cp.sign(GO_TEXT, "PeterNeumann", go_key()) == GO_NOTE


def test_the_verifier_key_of_go_s_private_key_is_go_s_verifier_key():
    assert cp.vkey_of("PeterNeumann", go_key()) == GO_VKEY


@pytest.mark.parametrize(
    "note", [GO_NOTE, GO_TEXT + "\n" + GO_SIG + GO_ENOCH_SIG, GO_TEXT + "\n" + GO_ENOCH_SIG + GO_SIG]
)
def test_go_s_note_opens_with_go_s_verifier_key_among_other_signatures(note):
    assert cp.open_note(note, GO_VKEY) == GO_TEXT


def test_the_design_page_s_example_checkpoint_verifies():
    text = cp.open_note(DOC_NOTE, DOC_VKEY)
    assert cp.parse_checkpoint(text) == dict(
        origin="pgtrail.audit/chain/6f1c2d0e-2b1a-4c55-9a53-1b3c0f0a9e11",
        size=7,
        root="KMislKjXHUCDDW0uHNAdb9Err3lNTGFyU+Jb7oEbOpQ=",
    )


def test_a_fresh_key_signs_a_checkpoint_that_its_verifier_key_opens():
    key = Ed25519PrivateKey.generate()
    vkey = cp.vkey_of("pgtrail.audit/acme-prod", cp.load_private_key(pem(key)))
    note = cp.sign(cp.checkpoint_text(ORIGIN, 42, ROOT), "pgtrail.audit/acme-prod", key)
    assert cp.parse_checkpoint(cp.open_note(note, vkey)) == dict(origin=ORIGIN, size=42, root=ROOT)


@pytest.mark.parametrize(
    "note, reason",
    [
        pytest.param(GO_NOTE.replace("cryptography", "Cryptography"), "does not verify", id="text-edited"),
        pytest.param(GO_NOTE.replace("x08go/ZJ", "x08go/ZK"), "does not verify", id="signature-edited"),
        pytest.param(GO_TEXT + "\n" + GO_ENOCH_SIG, "no signature of the key", id="signed-by-another-key"),
        pytest.param(GO_NOTE.replace("PeterNeumann", "PeterNeuman"), "no signature of the key", id="renamed"),
        pytest.param(GO_TEXT, "malformed", id="unsigned"),
        pytest.param(GO_TEXT + "\n", "malformed", id="no-signature-line"),
        pytest.param(GO_NOTE[:-1], "malformed", id="no-final-newline"),
        pytest.param(GO_NOTE + "Unexpected line.\n", "malformed", id="trailing-line"),
        pytest.param(GO_TEXT + "\n\u2014 Bad Name x08go/ZJ=\n", "malformed", id="bad-name"),
    ],
)
def test_a_note_that_is_altered_or_not_signed_by_the_key_is_refused_saying_why(note, reason):
    with pytest.raises(cp.NoteError, match=reason):
        cp.open_note(note, GO_VKEY)


@pytest.mark.parametrize(
    "vkey",
    [
        pytest.param(GO_VKEY[:-1], id="truncated"),
        pytest.param(GO_VKEY.replace("c74f20a3", "c74f20a4"), id="wrong-id"),
        pytest.param(GO_VKEY.replace("Peter", "Petra"), id="renamed"),
        pytest.param("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", id="unknown-algorithm"),
        pytest.param("PeterNeumann+c74f20a3", id="no-key"),
        pytest.param("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", id="space-in-name"),
        pytest.param(None, id="none"),
    ],
)
def test_a_mangled_verifier_key_is_refused(vkey):
    with pytest.raises(cp.NoteError):
        cp.parse_vkey(vkey)


@pytest.mark.parametrize(
    "text",
    ["", "not a private key", pem(Ed25519PrivateKey.generate()).replace("A", "B", 3)],
)
def test_a_private_key_that_is_not_a_pem_ed25519_key_is_refused_without_echoing_it(text):
    with pytest.raises(cp.NoteError) as caught:
        cp.load_private_key(text)
    assert "PRIVATE" not in str(caught.value) and "not a private key" not in str(caught.value)


@pytest.mark.parametrize(
    "origin, size, root",
    [("", 1, ROOT), ("a\nb", 1, ROOT), (ORIGIN, -1, ROOT), (ORIGIN, "7", ROOT), (ORIGIN, True, ROOT), (ORIGIN, 1, "?")],
)
def test_a_checkpoint_of_bad_values_is_refused(origin, size, root):
    with pytest.raises(cp.NoteError):
        cp.checkpoint_text(origin, size, root)


def test_the_last_history_entry_is_read_and_verified():
    key = go_key()
    first = cp.history_entry(
        cp.sign(cp.checkpoint_text(ORIGIN, 3, ROOT), "PeterNeumann", key), 1, "2026-11-30T00:00:00Z"
    )
    second = cp.history_entry(
        cp.sign(cp.checkpoint_text(ORIGIN, 9, ROOT), "PeterNeumann", key), 4, "2026-11-30T01:00:00Z"
    )
    last = cp.last_entry(first + second, GO_VKEY)
    assert (last["size"], last["block"], last["at"], last["origin"]) == (9, 4, "2026-11-30T01:00:00Z", ORIGIN)
    assert cp.last_entry("", GO_VKEY) is None


@pytest.mark.parametrize(
    "edit, reason",
    [
        pytest.param(lambda e: dict(e, note=e["note"].replace("\n9\n", "\n90\n")), "does not verify", id="size-edited"),
        pytest.param(lambda e: dict(e, note=GO_NOTE), "not a checkpoint", id="not-a-checkpoint"),
        pytest.param(lambda e: {"block": 4}, "not a history entry", id="no-note"),
    ],
)
def test_an_edited_last_history_entry_is_refused_naming_its_line(edit, reason):
    note = cp.sign(cp.checkpoint_text(ORIGIN, 9, ROOT), "PeterNeumann", go_key())
    entry = edit(dict(note=note, block=4, at="2026-11-30T01:00:00Z"))
    content = cp.history_entry(note, 1, "x") + json.dumps(entry) + "\n"
    with pytest.raises(cp.NoteError, match="h.checkpoints, line 2.*" + reason):
        cp.last_entry(content, GO_VKEY, "h.checkpoints")


def test_a_last_line_that_is_not_json_is_refused():
    with pytest.raises(cp.NoteError, match="line 1 is not a history entry"):
        cp.last_entry('{"note": "tru', GO_VKEY)


DIGESTS = {"fleet-report.json": "a" * 64, "fleet-report.md": "b" * 64, "hosts/db1.json": "c" * 64}


def test_a_bundle_lists_every_file_s_sha256_by_name_under_its_origin():
    assert cp.bundle_text(DIGESTS) == (
        "pgtrail.audit/bundle\n" + "a" * 64 + "  fleet-report.json\n" + "b" * 64 + "  fleet-report.md\n"
        "" + "c" * 64 + "  hosts/db1.json\n"
    )
    assert cp.bundle_problems(cp.bundle_text(DIGESTS), DIGESTS) == []


@pytest.mark.parametrize(
    "found, problem",
    [
        pytest.param(
            {k: v for k, v in DIGESTS.items() if k != "fleet-report.md"}, "fleet-report.md is missing", id="gone"
        ),
        pytest.param(dict(DIGESTS, **{"fleet-report.md": "d" * 64}), "fleet-report.md was changed", id="changed"),
        pytest.param(dict(DIGESTS, extra="e" * 64), "extra was added", id="added"),
    ],
)
def test_a_bundle_names_each_file_missing_changed_or_added(found, problem):
    assert cp.bundle_problems(cp.bundle_text(DIGESTS), found) == [problem]


@pytest.mark.parametrize("path", ["", "/etc/passwd", "../up", "a\nb"])
def test_a_bundle_refuses_paths_that_are_not_relative_lines(path):
    with pytest.raises(cp.NoteError):
        cp.bundle_text({path: "a" * 64})


def signed(size, root=ROOT, origin=ORIGIN, key=None, name="PeterNeumann"):
    return cp.sign(cp.checkpoint_text(origin, size, root), name, key or go_key())


OTHER_ROOT = base64.b64encode(b"\x22" * 32).decode()


@pytest.mark.parametrize(
    "notes, problem",
    [
        pytest.param([signed(3), signed(3), signed(9)], None, id="forward-and-repeated"),
        pytest.param([], None, id="none-stored"),
        pytest.param([signed(3), signed(9).replace("\n9\n", "\n8\n")], "checkpoint 2: .*does not verify", id="edited"),
        pytest.param(
            [signed(3), signed(9, key=Ed25519PrivateKey.generate())],
            "checkpoint 2: .*no signature",
            id="same-name",
        ),
        pytest.param([signed(3), signed(9, name="other")], "checkpoint 2: .*no signature", id="another-key"),
        pytest.param([GO_NOTE], "checkpoint 1: .*not a checkpoint", id="not-a-checkpoint"),
        pytest.param([signed(9), signed(3)], "checkpoint 2 goes back: size 3 after 9", id="goes-back"),
        pytest.param([signed(9), signed(9, root=OTHER_ROOT)], "checkpoint 2 .*another root", id="fork"),
        pytest.param([signed(3), signed(9, origin=ORIGIN + "x")], "checkpoint 2 is of chain", id="another-chain"),
    ],
)
def test_a_stored_sequence_of_checkpoints_verifies_and_goes_forward_or_each_problem_is_named(notes, problem):
    problems = cp.sequence_problems(notes, GO_VKEY)
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and re.match(problem, problems[0]), problems
