"""The verifier's result as chain_verify returns it, and its input (verify.py)."""

import pytest

from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail import verify


def row(**overrides):
    result = dict(
        ok=True,
        checked=5,
        broken_id=None,
        broken_seq=None,
        expected=None,
        found=None,
        head_seq=5,
        head_hash="ab" * 32,
        unsealed=0,
        reason=None,
    )
    result.update(overrides)
    return result


def test_a_verified_chain_reads_as_ok_with_its_head():
    assert verify.shape(row(), 2) == dict(
        ok=True,
        checked=5,
        broken=None,
        head=dict(seq=5, hash="ab" * 32),
        unsealed=0,
        sealed=2,
        reason="the chain verifies: 5 sealed row(s), positions 1 to 5",
    )
    assert verify.shape(row(unsealed=3), 0)["reason"].endswith("; 3 row(s) not sealed yet")


def test_a_broken_chain_names_the_row_the_position_and_both_hashes():
    shaped = verify.shape(
        row(ok=False, checked=3, broken_id=11, broken_seq=4, expected="01" * 32, found="02" * 32, reason="why"), 0
    )
    assert shaped["ok"] is False and shaped["reason"] == "why"
    assert shaped["broken"] == dict(id=11, seq=4, expected="01" * 32, found="02" * 32)


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
