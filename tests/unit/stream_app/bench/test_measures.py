"""The bench's arithmetic: percentiles, /proc parsing, worker counters."""

from __future__ import annotations

import os

import pytest

from stream_app.tools.bench.measures import (
    combine,
    cpu_seconds,
    events_per_rescore,
    peak_rss_bytes,
    percentile,
    ratio,
    sizes,
    stats_delta,
    summary,
)


def test_percentile_is_nearest_rank_and_never_interpolates() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 0.5) == 20.0
    assert percentile(values, 0.51) == 30.0
    assert percentile(values, 1.0) == 40.0
    assert percentile(list(reversed(values)), 0.25) == 10.0


def test_percentile_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError):
        percentile([], 0.5)


def test_summary_of_a_thousand_delays() -> None:
    s = summary([float(v) for v in range(1, 1001)])
    assert s == {"n": 1000, "p50": 500.0, "p90": 900.0, "p99": 990.0, "max": 1000.0}


def test_sizes_are_whole_bytes() -> None:
    assert sizes([3, 1, 2, 10]) == {"n": 4, "median": 2, "p90": 10, "max": 10}


def test_cpu_seconds_parses_this_processs_own_stat_line() -> None:
    with open(f"/proc/{os.getpid()}/stat") as f:
        line = f.read()
    cpu = cpu_seconds(line, os.sysconf("SC_CLK_TCK"))
    assert 0 < cpu < 10_000


def test_cpu_seconds_counts_fields_after_a_command_name_with_spaces_and_parens() -> None:
    fields = ["S", *map(str, range(4, 14)), "300", "100", "0", "0"]
    line = "77 (a (weird) name) " + " ".join(fields)
    assert cpu_seconds(line, 100) == 4.0


def test_peak_rss_parses_this_processs_status() -> None:
    with open(f"/proc/{os.getpid()}/status") as f:
        peak = peak_rss_bytes(f.read())
    assert peak is not None and peak > 1024 * 1024


def test_combine_adds_counts_and_keeps_the_largest_gauge() -> None:
    a = {"events": 10, "answers": 4, "max_batch": 500, "generation": 3, "partitions": 12}
    b = {"events": 5, "answers": 1, "max_batch": 40, "generation": 3, "partitions": 12}
    assert combine([a, b]) == {
        "events": 15,
        "answers": 5,
        "max_batch": 500,
        "generation": 3,
        "partitions": 12,
    }


def test_stats_delta_subtracts_counts_only() -> None:
    before = {"events": 100, "batches": 3, "max_late_ms": 200}
    after = {"events": 160, "batches": 5, "max_late_ms": 150, "late_events": 2}
    assert stats_delta(before, after) == {
        "events": 60,
        "batches": 2,
        "max_late_ms": 150,
        "late_events": 2,
    }


def test_events_per_rescore_and_ratio() -> None:
    assert events_per_rescore({"events": 55_000, "answers": 26_000}) == 2.12
    assert events_per_rescore({"events": 3}) is None
    assert ratio(900, 30_000) == 0.03
    assert ratio(None, 1) is None and ratio(1, None) is None
