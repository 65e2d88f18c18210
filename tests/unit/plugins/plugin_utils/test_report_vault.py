"""The fleet report's audit vault rows: one per source slot, with a one-word status (pure)."""

import pytest

from ansible_collections.pgtrail.audit.plugins.plugin_utils import report


def slot(**kw):
    row = dict(
        slot_name="pgtrail_vault_16384",
        database="shop",
        active=True,
        lost=False,
        wal_status="reserved",
        retained_bytes=56,
        lag_bytes=0,
        lag_time=None,
        max_slot_wal_keep_size="10GB",
    )
    row.update(kw)
    return row


@pytest.mark.parametrize(
    "given, status",
    [
        (slot(), "streaming"),
        (slot(active=False), "inactive"),
        (slot(active=False, lost=True, wal_status="lost", retained_bytes=None), "lost"),
    ],
)
def test_each_source_slot_is_a_row_with_its_status(given, status):
    hosts = [dict(name="db1", facts=dict(replication=dict(vault_slots=[given]))), dict(name="db2", facts={})]
    (row,) = report.vault_rows(hosts)
    assert row["host"] == "db1" and row["database"] == "shop" and row["status"] == status
    assert row["retained_bytes"] == given["retained_bytes"]
