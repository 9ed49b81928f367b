"""Pure arithmetic of the bench: percentiles, ``/proc`` parsing, worker counters.

>>> summary([3.0, 1.0, 2.0, 10.0])
{'n': 4, 'p50': 2.0, 'p90': 10.0, 'p99': 10.0, 'max': 10.0}
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "GAUGES",
    "combine",
    "cpu_seconds",
    "events_per_rescore",
    "peak_rss_bytes",
    "percentile",
    "ratio",
    "sizes",
    "stats_delta",
    "summary",
]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in (0, 1]) of a non-empty sequence.

    >>> percentile(list(range(1, 11)), 0.9), percentile(list(range(1, 101)), 0.99)
    (9, 99)
    >>> percentile([5.0], 0.5)
    5.0
    >>> percentile([], 0.5)
    Traceback (most recent call last):
    ...
    ValueError: percentile of no values
    """
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def summary(values: Sequence[float], digits: int = 1) -> dict[str, float | int]:
    """``n``, p50, p90, p99 and max (rounded); only ``n`` for no values.

    >>> summary([])
    {'n': 0}
    >>> summary([0.123, 0.5], digits=2)
    {'n': 2, 'p50': 0.12, 'p90': 0.5, 'p99': 0.5, 'max': 0.5}
    """
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    out: dict[str, float | int] = {"n": len(ordered)}
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
        out[name] = round(percentile(ordered, q), digits)
    out["max"] = round(ordered[-1], digits)
    return out


def sizes(values: Iterable[int]) -> dict[str, int]:
    """Median, p90 and max of byte sizes (``n`` = how many were measured).

    >>> sizes([100, 300, 200])
    {'n': 3, 'median': 200, 'p90': 300, 'max': 300}
    >>> sizes([])
    {'n': 0}
    """
    ordered = sorted(values)
    if not ordered:
        return {"n": 0}
    return {
        "n": len(ordered),
        "median": int(percentile(ordered, 0.5)),
        "p90": int(percentile(ordered, 0.9)),
        "max": ordered[-1],
    }


def cpu_seconds(stat: str, ticks_per_s: int) -> float:
    """User + system CPU seconds of a process from its ``/proc/<pid>/stat`` line.

    The command name (field 2) is in parentheses and may hold spaces and parentheses itself,
    so fields are counted from the *last* ``)``: utime and stime are fields 14 and 15.

    >>> line = "4242 (python -m x) y) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 3 0 100 0 0"
    >>> cpu_seconds(line, 100)
    3.0
    """
    after = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(after[11]), int(after[12])  # fields 14, 15; ``after`` starts at field 3
    return (utime + stime) / ticks_per_s


def peak_rss_bytes(status: str) -> int | None:
    """Peak resident set size (``VmHWM``) from ``/proc/<pid>/status``, in bytes.

    >>> peak_rss_bytes("Name:\\tpython\\nVmHWM:\\t  183480 kB\\nVmRSS:\\t 170000 kB\\n")
    187883520
    >>> peak_rss_bytes("Name:\\tkthreadd\\n") is None
    True
    """
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            amount, unit = line.split()[1:3]
            assert unit == "kB", line
            return int(amount) * 1024
    return None


GAUGES = (
    "max_",
    "first_",
    "last_",
    "generation",
    "partitions",
    "rebuilt_users",
    "rebuild_ms",
    "decay_notes",
)
"""Prefixes of ``/pipeline/stats`` entries that are a current, largest or earliest value, not a
count (``first_*``, a time, combines as the earliest; ``last_*`` as the latest)."""


def combine(readings: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Several workers' counters as one: counts add up, gauges take the largest (``first_*``
    the earliest).

    >>> combine([{"events": 3, "max_batch": 500, "first_batch_ms": 7}, {"events": 4,
    ...          "max_batch": 9, "first_batch_ms": 5}])
    {'events': 7, 'max_batch': 500, 'first_batch_ms': 5}
    """
    out: dict[str, int] = {}
    for reading in readings:
        for k, v in reading.items():
            if not isinstance(v, int):
                continue
            if k.startswith("first_"):
                out[k] = min(out.get(k, v), v)
            elif k.startswith(GAUGES):
                out[k] = max(out.get(k, v), v)
            else:
                out[k] = out.get(k, 0) + v
    return out


def stats_delta(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    """What a worker's ``/pipeline/stats`` counters did between two readings. Gauges (the
    ``max_*`` counters, ``generation``, ``partitions``) keep their later value.

    >>> stats_delta({"events": 10, "max_batch": 500}, {"events": 25, "max_batch": 90})
    {'events': 15, 'max_batch': 90}
    """
    return {
        k: v if k.startswith(GAUGES) else v - before.get(k, 0)
        for k, v in after.items()
        if isinstance(v, int)
    }


def events_per_rescore(stats: Mapping[str, int]) -> float | None:
    """Events applied per answer written (a rescore writes one answer): how much the batches
    coalesce. None before any answer.

    >>> events_per_rescore({"events": 5000, "answers": 400}), events_per_rescore({"answers": 0})
    (12.5, None)
    """
    answers = stats.get("answers", 0)
    return round(stats.get("events", 0) / answers, 2) if answers else None


def surface_costs(stats: Mapping[str, int]) -> dict[str, dict[str, float]]:
    """Per surface, from the workers' ``rescored_{surface}`` and ``rank_us_{surface}``
    counters: answers ranked, ms its model took in all, and ms per event applied.

    >>> surface_costs({"events": 1000, "rescored_default": 400, "rank_us_default": 120000,
    ...                "rescored_search": 90, "rank_us_search": 30000})
    ... # doctest: +NORMALIZE_WHITESPACE
    {'default': {'rescores': 400, 'rank_ms': 120.0, 'ms_per_event': 0.12},
     'search': {'rescores': 90, 'rank_ms': 30.0, 'ms_per_event': 0.03}}
    """
    events = max(stats.get("events", 0), 1)
    out = {}
    for key, n in stats.items():
        if key.startswith("rescored_"):
            name = key.removeprefix("rescored_")
            ms = stats.get(f"rank_us_{name}", 0) / 1000
            out[name] = {
                "rescores": n,
                "rank_ms": round(ms, 1),
                "ms_per_event": round(ms / events, 4),
            }
    return out


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator`` to 3 digits, None when either is missing or zero.

    >>> ratio(1200, 9600), ratio(None, 3), ratio(3, 0)
    (0.125, None, None)
    """
    if not numerator or not denominator:
        return None
    return round(numerator / denominator, 3)
