"""What the trail costs per day (plugin_utils.cost), from write counters and the measured bytes."""

import json
import pathlib

from ansible_collections.pgtrail.audit.plugins.plugin_utils.cost import (
    BYTES_PER_CHANGE,
    estimate,
    estimates,
    human_bytes,
    human_period,
)

ROOT = pathlib.Path(__file__).resolve().parents[4]
TRAIL = {"status": "present", "audited": [{"table": "public.payments", "present": True}]}


def rates(seconds, *tables):
    return {
        "reset": False,
        "since": "2026-11-29T00:00:00Z",
        "seconds": seconds,
        "tables": [dict(table=t, inserts=i, updates=u, deletes=d) for t, i, u, d in tables],
    }


def test_the_bytes_per_change_are_the_ones_the_benchmarks_measured():
    measured = json.loads((ROOT / "docs" / "benchmarks.json").read_text())["bytes"]
    assert BYTES_PER_CHANGE == {"row": round(measured["row"]["total"]), "chain": round(measured["chain"]["total"])}
    assert "%d B" % BYTES_PER_CHANGE["row"] in (ROOT / "docs" / "benchmarks.md").read_text()


def test_changes_per_day_times_the_bytes_per_change_costliest_first():
    day = 86400
    result = estimate("finance", rates(2 * day, ("public.payments", 100, 50, 50), ("public.notes", 1000, 0, 0)), TRAIL)
    assert result["days"] == 2.0 and result["period"] == "2.0 days"
    assert result["bytes_per_change"] == BYTES_PER_CHANGE["row"]
    notes, payments = result["tables"]
    assert notes == dict(
        table="public.notes", under_trail=False, changes=1000, changes_per_day=500.0,
        bytes_per_day=500 * BYTES_PER_CHANGE["row"], size_per_day="221.2 KiB",
    )  # fmt: skip
    assert payments["under_trail"] and payments["changes_per_day"] == 100.0
    assert result["trail_bytes_per_day"] == 100 * BYTES_PER_CHANGE["row"]
    assert result["candidate_bytes_per_day"] == 500 * BYTES_PER_CHANGE["row"]


def test_a_hash_chained_log_costs_its_measured_size():
    result = estimate("finance", rates(86400, ("public.payments", 10, 0, 0)), TRAIL, {"enabled": True})
    assert result["tables"][0]["bytes_per_day"] == 10 * BYTES_PER_CHANGE["chain"]


def test_no_period_gives_no_rate_rather_than_a_division_by_zero():
    result = estimate("x", rates(0, ("public.t", 5, 0, 0)))
    assert result["days"] is None and result["tables"][0]["bytes_per_day"] is None
    assert estimates({}) == []
    assert [e["database"] for e in estimates({"write_rates": {"databases": {"b": rates(1), "a": rates(1)}}})] == [
        "a",
        "b",
    ]


def test_bytes_read_as_people_read_them():
    assert [human_bytes(n) for n in (None, 0, 1023, 1536, 5 * 1024**3)] == ["?", "0 B", "1023 B", "1.5 KiB", "5.0 GiB"]


def test_a_period_of_seconds_is_not_rounded_to_no_period():
    # A fleet converged 30 s before the report: the rate is over 30 s, and the period says so.
    result = estimate("finance", rates(30, ("public.notes", 3, 0, 0)))
    assert result["days"] > 0 and result["period"] == "30 s"
    assert result["tables"][0]["changes_per_day"] == 3 * 86400 / 30.0


def test_periods_read_as_people_read_them():
    cases = [(None, "?"), (0.4, "0 s"), (42, "42 s"), (90, "1.5 min"), (5400, "1.5 h"), (2 * 86400, "2.0 days")]
    assert [human_period(seconds) for seconds, text in cases] == [text for seconds, text in cases]
