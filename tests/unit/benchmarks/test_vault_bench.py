"""benchmarks/vault.py's pure parts: the sampler's and the per-row query's figures, and the lines
the run prints (the benchmark itself runs in scripts/test bench)."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
import vault  # noqa: E402  (benchmarks/ is not a package)


@pytest.mark.parametrize(
    "text, figures",
    [
        ("120|0.004|0.021|0.05\n", dict(count=120, p50=0.004, p99=0.021, max=0.05)),
        # No sample while idle: replay_lag is null, the percentiles empty.
        ("0|||\n", dict(count=0, p50=0.0, p99=0.0, max=0.0)),
    ],
)
def test_psql_figures_are_read_as_count_p50_p99_and_max(text, figures):
    assert vault.four(text) == figures


def test_the_printed_lines_give_the_ratio_and_the_p99_against_their_targets():
    lines = vault.text_lines(
        dict(
            overhead=dict(tps_with=970.0, tps_without=1000.0, ratio=0.97),
            lag=dict(
                rate=1000,
                tps=998.0,
                sampled=dict(count=200, p50=0.01, p99=0.2, max=0.3),
                rows=dict(count=20000, p50=0.01, p99=0.25, max=0.4),
            ),
        )
    )
    assert "970 / 1000 tps = 0.970x (target >= 0.97x)" in lines[0]
    assert "sampled p99 0.200 s (200 samples), per row p99 0.250 s" in lines[1]
    assert vault.text_lines(None) == []


def test_the_source_cpu_per_write_gives_the_rate_a_source_with_its_own_cores_keeps():
    runs = dict(off=[1000.0, 1100.0, 900.0], on=[600.0, 700.0, 500.0])
    cpu = dict(
        off=[dict(source_us_per_tx=2000.0, vault_cores=0.0), dict(source_us_per_tx=2100.0, vault_cores=0.01)],
        on=[dict(source_us_per_tx=2200.0, vault_cores=0.6), dict(source_us_per_tx=2300.0, vault_cores=0.8)],
    )
    figures = vault.overhead_figures(8, runs, cpu)
    assert figures["ratio"] == 600.0 / 1000.0
    assert figures["source_us_per_tx"] == dict(off=2050.0, on=2250.0)
    assert figures["cpu_ratio"] == 2050.0 / 2250.0 and figures["vault_cores"] == 0.7
    lines = vault.text_lines(
        dict(
            overhead=figures,
            lag=dict(
                rate=1000,
                tps=1000.0,
                sampled=dict(count=1, p50=0, p99=0, max=0),
                rows=dict(count=1, p50=0, p99=0, max=0),
            ),
        )
    )
    assert "2050 / 2250 us = 0.911x; the vault's apply used 0.70 of the shared cores" in lines[2]
    # No CPU read (no cgroup v2): the rates alone, as before.
    assert "cpu_ratio" not in vault.overhead_figures(8, runs, dict(off=[], on=[]))
