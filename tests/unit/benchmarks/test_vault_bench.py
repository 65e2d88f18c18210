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
