"""chain_verify's pure parts: block headers re-hashed and re-linked, checkpoints, the note its head
becomes (plugin_utils/checkpoint.py writes it), its input (verify.py)."""

import base64
import hashlib
import struct
import uuid

import pytest

from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail import verify
from ansible_collections.pgtrail.audit.plugins.plugin_utils.checkpoint import checkpoint_text

CHAIN_ID = "6f1c2d0e-2b1a-4c55-9a53-1b3c0f0a9e11"


def chain(blocks=3, rows=2):
    """Headers of a valid chain: block 0 (the chain id), then ``blocks`` blocks of ``rows`` rows."""
    headers = []
    prev, last = verify.ZERO_HASH, 0
    for number in range(blocks + 1):
        header = dict(
            block=number,
            first_pos=1 if number == 0 else last + 1,
            last_pos=0 if number == 0 else last + rows,
            snap_xmax=1000 + 10 * number,
            snap_xip=[] if number == 0 else [995 + 10 * number, 997 + 10 * number],
            root=bytes([number]) * 32,
            prev_hash=prev,
            sealed_us=1764500000000000 + number,
            chain_id=CHAIN_ID if number == 0 else None,
        )
        header["hash"] = verify.block_header(**dict(header))
        headers.append(header)
        prev, last = header["hash"], header["last_pos"]
    return headers


def test_a_block_header_hashes_every_field_as_the_sealer_does():
    # sha256('pgtrail.audit chain v2' || int8send(...) x4 || xip text || root || prev || int8send(us) || uuid)
    fields = dict(
        block=1, first_pos=1, last_pos=3, snap_xmax=1282, snap_xip=[1278, 1279], root=b"\x01" * 32,
        prev_hash=b"\x02" * 32, sealed_us=1764500000000000,
    )  # fmt: skip
    expected = hashlib.sha256(
        b"pgtrail.audit chain v2"
        + struct.pack(">qqqq", 1, 1, 3, 1282)
        + b"{1278,1279}"
        + b"\x01" * 32
        + b"\x02" * 32
        + struct.pack(">q", 1764500000000000)
    ).digest()
    assert verify.block_header(**fields) == expected
    assert verify.block_header(**{**fields, "snap_xip": []}) != expected
    # block 0 binds the chain id: its 16 bytes end the header
    with_id = hashlib.sha256(b"pgtrail.audit chain v2" + struct.pack(">qqqq", 1, 1, 3, 1282) + b"{1278,1279}")
    with_id.update(b"\x01" * 32 + b"\x02" * 32 + struct.pack(">q", 1764500000000000) + uuid.UUID(CHAIN_ID).bytes)
    assert verify.block_header(**dict(fields, chain_id=CHAIN_ID)) == with_id.digest()


def test_the_note_a_checkpoint_signs_is_origin_size_and_root_each_on_a_line():
    assert verify.origin_of(CHAIN_ID) == "pgtrail.audit/chain/" + CHAIN_ID
    assert checkpoint_text(verify.origin_of(CHAIN_ID), 7, "KMislKjXHUCDDW0uHNAdb9Err3lNTGFyU+Jb7oEbOpQ=") == (
        "pgtrail.audit/chain/6f1c2d0e-2b1a-4c55-9a53-1b3c0f0a9e11\n7\nKMislKjXHUCDDW0uHNAdb9Err3lNTGFyU+Jb7oEbOpQ=\n"
    )


def test_an_intact_chain_of_headers_verifies_and_extends_each_of_its_checkpoints():
    headers = chain()
    assert verify.check_headers(headers) == (None, None)
    for header in headers:
        assert verify.check_headers(headers, header["last_pos"], header["hash"]) == (None, True)


@pytest.mark.parametrize(
    "change, position, reason",
    [
        (lambda h: h[2].update(snap_xmax=h[2]["snap_xmax"] + 1), 3, "the header of block 2 does not hash"),
        (lambda h: h[2].update(root=b"\x09" * 32), 3, "the header of block 2 does not hash"),
        (lambda h: h[0].update(chain_id="00000000-0000-0000-0000-000000000000"), 1, "the header of block 0"),
        (lambda h: h[3].update(prev_hash=b"\x00" * 32), 5, "block 3 does not link to the block before it"),
        (lambda h: h.pop(2), 5, "block 3 follows block 1: blocks are missing"),
        (lambda h: h[2].update(first_pos=4), 4, "block 2 holds positions 4 to 4 after block 1 ended at 2"),
    ],
)
def test_a_changed_header_is_reported_at_its_blocks_first_position(change, position, reason):
    headers = chain()
    change(headers)
    problem, extends = verify.check_headers(headers)
    assert problem["position"] == position and problem["id"] is None and reason in problem["reason"]
    assert extends is None


def test_a_checkpoint_the_chain_no_longer_reaches_or_holds_is_reported():
    headers = chain()
    signed = headers[-1]
    # the tail and its blocks deleted: reported at the first position after the chain's end
    problem, extends = verify.check_headers(headers[:2], signed["last_pos"], signed["hash"])
    assert extends is False and problem["position"] == 3
    assert problem["reason"] == (
        "the chain ends at position 2, before the checkpoint's size 6: the rows after it and their blocks were deleted"
    )
    # rewritten consistently: another hash at the signed size
    problem, extends = verify.check_headers(headers, signed["last_pos"], b"\x07" * 32)
    assert extends is False and problem["position"] == 6 and "rewritten at or before position 6" in problem["reason"]
    # no block ends at the signed size any more
    problem, extends = verify.check_headers(headers, 5, signed["hash"])
    assert (
        extends is False
        and problem["position"] == 5
        and "no block ends at the checkpoint's size 5" in problem["reason"]
    )


def test_the_first_problem_is_the_one_at_the_smallest_position():
    assert verify.first_problem(None, None) is None
    assert verify.first_problem(dict(position=5), None, dict(position=2)) == dict(position=2)


def test_the_checkpoint_option_is_checked_before_anything_is_read():
    root = base64.b64encode(b"\x01" * 32).decode()
    assert verify.check_checkpoint(None) == (None, None)
    assert verify.check_checkpoint(dict(size="7", root=root)) == (7, b"\x01" * 32)
    for bad, message in (
        (dict(size=7), "must be a dictionary with size and root"),
        (dict(size="x", root=root), "checkpoint.size must be a whole number"),
        (dict(size=-1, root=root), "must be 0 or more"),
        (dict(size=1, root="not base64!"), "base64 of a 32-byte SHA-256"),
        (dict(size=1, root=base64.b64encode(b"short").decode()), "base64 of a 32-byte SHA-256"),
    ):
        with pytest.raises(ValueError, match=message):
            verify.check_checkpoint(bad)


def test_the_expected_head_is_checked_before_anything_is_read():
    assert verify.check_expected_head(None) == (None, None)
    assert verify.check_expected_head({"seq": "7", "hash": "AB" * 32}) == (7, "ab" * 32)
    assert verify.check_expected_head({"seq": 0}) == (0, None)
    for bad, message in (
        ({"hash": "ab" * 32}, "must be a dictionary with seq"),
        ({"seq": "x"}, "expected_head.seq must be a whole number"),
        ({"seq": -1}, "must be 0 or more"),
        ({"seq": 1, "hash": "xyz"}, "64 hexadecimal digits"),
    ):
        with pytest.raises(ValueError, match=message):
            verify.check_expected_head(bad)
