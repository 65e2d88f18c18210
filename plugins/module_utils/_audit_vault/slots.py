# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to the collection: not a public API, it may change without notice.
# Do not use it from other collections or standalone plugins/modules.
"""The vault slots of a source, for audit_info: how far behind the vault is, and what WAL it holds."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# The slots of the sources, for audit_info: how far behind the vault is, and what WAL it holds.
SLOTS = """
SELECT s.slot_name, s.database, s.active, s.wal_status,
       s.safe_wal_size,
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.restart_lsn)::bigint AS retained_bytes,
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.confirmed_flush_lsn)::bigint AS lag_bytes,
       (SELECT r.replay_lag FROM pg_catalog.pg_stat_replication AS r WHERE r.pid = s.active_pid)::text AS lag_time,
       pg_catalog.current_setting('max_slot_wal_keep_size') AS max_slot_wal_keep_size
  FROM pg_catalog.pg_replication_slots AS s
 WHERE s.slot_type = 'logical' AND s.slot_name LIKE 'pgtrail\\_vault\\_%'
 ORDER BY s.slot_name
"""


def read_slots(session):
    """The vault slots of a source, for audit_info (the server-wide part)."""
    slots = []
    for row in session.query(SLOTS):
        slot = dict(row)
        slot["lost"] = row["wal_status"] == "lost"
        slots.append(slot)
    return slots


def slot_warnings(slots):
    warnings = []
    for slot in slots:
        if slot["lost"]:
            warnings.append(
                "vault slot %s (database %s) is lost: max_slot_wal_keep_size dropped WAL the vault had not read; "
                "the vault's copy has a gap from then on: re-create its subscription"
                % (slot["slot_name"], slot["database"])
            )
        elif not slot["active"]:
            warnings.append(
                "vault slot %s (database %s) is inactive and retains %s bytes of WAL"
                " (capped by max_slot_wal_keep_size = %s)"
                % (slot["slot_name"], slot["database"], slot["retained_bytes"], slot["max_slot_wal_keep_size"])
            )
    return warnings
