# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the trail costs, before a table is put under it: log bytes per day (pure; unit-tested).

For each table of a database, its changes per day are its write counters in
``pg_stat_user_tables`` (rows inserted, updated and deleted; a partitioned table's partitions
counted in it) divided by the period they cover -- since the database's statistics were last
reset, else since the server started. Each change writes one row to the trail's log; its
measured size, table and indexes, comes from the benchmarks (:data:`BYTES_PER_CHANGE`).
Every table is costed at the database's rate (with the hash chain when its log has one): those
under the trail as they are, the others as candidates.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Log bytes (table + indexes) per audited change, measured by benchmarks/run: docs/benchmarks.md,
# "3. Log bytes (table + indexes) per audited change" (PostgreSQL 17.12, 2026-11-30 run, the
# public.accounts table of benchmarks/sql/accounts.sql; with the chain, chain_block's bytes
# included). A wider row logs more.
BYTES_PER_CHANGE = {"row": 453, "chain": 492}
SOURCE = (
    "docs/benchmarks.md, 'Log bytes (table + indexes) per audited change': %d B per change, "
    "%d B with the hash chain (PostgreSQL 17.12, benchmarks/sql/accounts.sql's rows; wider rows log more)"
) % (BYTES_PER_CHANGE["row"], BYTES_PER_CHANGE["chain"])
DAY = 86400.0


def _under_trail(trail):
    if (trail or {}).get("status") != "present":
        return set()
    return set(t["table"] for t in trail.get("audited") or [] if t.get("present", True))


def estimate(database, rates, trail=None, chain=None):
    """{database, since, reset, days, period, bytes_per_change, trail_bytes_per_day, tables} of one database.

    ``rates`` is audit_info's ``write_rates`` entry of the database; ``trail`` and ``chain`` its
    ``trail`` and ``hash_chain`` entries. Each table: {table, under_trail, changes, changes_per_day,
    bytes_per_day, size_per_day}, the costliest first; with no period to divide by, the rates are None.
    ``days`` is the period in days to 6 places (a fleet converged a minute ago has a period of
    0.0007 days, not 0), ``period`` the same as people read it ("42 s", "3.5 h", "2.0 days").
    """
    rates = rates or {}
    seconds = float(rates.get("seconds") or 0.0)
    days = seconds / DAY if seconds > 0 else None
    audited = _under_trail(trail)
    per_change = BYTES_PER_CHANGE["chain" if (chain or {}).get("enabled") else "row"]
    tables = []
    for entry in rates.get("tables") or []:
        changes = int(entry.get("inserts") or 0) + int(entry.get("updates") or 0) + int(entry.get("deletes") or 0)
        per_day = changes / days if days else None
        tables.append(
            dict(
                table=entry["table"],
                under_trail=entry["table"] in audited,
                changes=changes,
                changes_per_day=None if per_day is None else round(per_day, 1),
                bytes_per_day=None if per_day is None else int(round(per_day * per_change)),
            )
        )
        tables[-1]["size_per_day"] = human_bytes(tables[-1]["bytes_per_day"])
    tables.sort(key=lambda t: (-(t["bytes_per_day"] or 0), t["table"]))
    trail_bytes = sum(t["bytes_per_day"] or 0 for t in tables if t["under_trail"])
    candidate_bytes = sum(t["bytes_per_day"] or 0 for t in tables if not t["under_trail"])
    return dict(
        database=database,
        since=rates.get("since"),
        reset=rates.get("reset"),
        days=None if days is None else round(days, 6),
        period=human_period(seconds if days else None),
        bytes_per_change=per_change,
        trail_bytes_per_day=trail_bytes,
        trail_size_per_day=human_bytes(trail_bytes),
        candidate_bytes_per_day=candidate_bytes,
        candidate_size_per_day=human_bytes(candidate_bytes),
        tables=tables,
    )


def estimates(facts):
    """One :func:`estimate` per database audit_info read write rates in, by name."""
    rates = (facts.get("write_rates") or {}).get("databases") or {}
    trails = (facts.get("trail") or {}).get("databases") or {}
    chains = (facts.get("hash_chain") or {}).get("databases") or {}
    return [estimate(db, rates[db], trails.get(db), chains.get(db)) for db in sorted(rates)]


def human_period(seconds):
    """42 -> '42 s'; 5400 -> '1.5 h'; 172800 -> '2.0 days'; None -> '?'."""
    if seconds is None:
        return "?"
    if seconds < 60:
        return "%d s" % seconds
    if seconds < 3600:
        return "%.1f min" % (seconds / 60.0)
    if seconds < DAY:
        return "%.1f h" % (seconds / 3600.0)
    return "%.1f days" % (seconds / DAY)


def human_bytes(count):
    """1536 -> '1.5 KiB'; None -> '?'."""
    if count is None:
        return "?"
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return ("%d %s" if unit == "B" else "%.1f %s") % (value, unit)
        value /= 1024
