"""The rows vault_checkpoints stores from the controller's history entries (pure)."""

import pytest

from ansible_collections.pgtrail.audit.plugins.module_utils._audit_vault.checkpoints import checkpoint_rows

NOTE = "pgtrail.audit/chain/6f1c2d0e\n7\nKMislKjXHUCDDW0uHNAdb9Err3lNTGFyU+Jb7oEbOpQ=\n\n\u2014 k abc=\n"


def test_each_entry_becomes_a_row_named_by_its_note_s_origin():
    rows, problems = checkpoint_rows([dict(note=NOTE, block=3, at="2026-11-30T00:00:00Z")])
    assert problems == []
    assert rows == [dict(origin="pgtrail.audit/chain/6f1c2d0e", block=3, note=NOTE, signed_at="2026-11-30T00:00:00Z")]


@pytest.mark.parametrize(
    "entry, problem",
    [
        (dict(note="", block=3), "checkpoint 1 has no note"),
        (dict(note="one line, no newline", block=3), "checkpoint 1 has no note"),
        (dict(note=NOTE, block=None), "checkpoint 1 (pgtrail.audit/chain/6f1c2d0e) has no block number: None"),
        (dict(note=NOTE, block=True), "has no block number: True"),
    ],
)
def test_an_entry_without_a_note_or_a_block_is_named_and_nothing_is_stored(entry, problem):
    rows, problems = checkpoint_rows([entry])
    assert rows == [] and len(problems) == 1 and problem in problems[0]
