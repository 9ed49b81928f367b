"""Turning prequential records into the result dict (the ``--json`` shape of issue 4).

::

    {"k": 10, "n_users": ..., "n_events": ..., "methods": {name: {
        "hr", "mrr", "ndcg", "hr_ci": [lo, hi], "hr20",
        "by_position": {"0", "1-2", "3+"}, "by_history": {"<10", "10-29", "30+"},
        "by_repeat": {"repeat", "new"}, "window_hr": [[day, hr], ...],
        "next_basket_recall", "lift", "lift_ci": [lo, hi],
        ("rescore_ms_p50", "rescore_ms_p90" for streaming)}}}

Headline metrics are means over test-period cart adds; ``hr_ci`` is the user-bootstrap 95%
interval of HR@K; ``lift`` is HR@K over the baseline's (``personal_top`` when it ran), with
the *paired* user-bootstrap 95% interval ``lift_ci`` (both methods on the same resampled users);
``window_hr`` is HR@K over a sliding window of the test events in event-time
order (x = days since the first test event).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from scorers.evaluation.metrics import (
    bootstrap_ci,
    bootstrap_ratio_ci,
    hit_rate,
    ndcg,
    reciprocal_rank,
)
from scorers.evaluation.prequential import HR20, EventRecord, Prequential, history_bucket
from scorers.evaluation.prequential import position_bucket as _pos

__all__ = ["summarize", "window_hr"]

DAY_MS = 86_400_000
POSITIONS = ("0", "1-2", "3+")
HISTORIES = ("<10", "10-29", "30+")
LIFT_BASELINE = "personal_top"


def _mean(values: Sequence[float]) -> float | None:
    return round(float(np.mean(values)), 4) if len(values) else None


def _total(per_user: dict[int, list[float]]) -> float:
    return sum(sum(v) for v in per_user.values())


def window_hr(
    records: Sequence[EventRecord], hits: Sequence[float], n_points: int = 20
) -> list[list[float]]:
    """Sliding-window HR over event time: ``n_points`` windows of ~2/n_points of the events.

    >>> from scorers.evaluation.prequential import EventRecord
    >>> recs = [EventRecord(1, i * 86_400_000, 0, 0, 1, True, {}) for i in range(4)]
    >>> window_hr(recs, [1, 0, 1, 1], n_points=2)
    [[0.5, 0.5], [2.5, 1.0]]
    """
    if not records:
        return []
    order = np.argsort([r.ts for r in records], kind="stable")
    ts = np.array([records[i].ts for i in order], dtype=np.float64)
    h = np.array([hits[i] for i in order], dtype=np.float64)
    n = len(h)
    width = max(1, (2 * n) // (n_points + 1))
    starts = np.linspace(0, n - width, n_points).round().astype(int) if n > width else [0]
    out = []
    for s in sorted(set(int(x) for x in starts)):
        day = (np.median(ts[s : s + width]) - ts[0]) / DAY_MS
        out.append([round(float(day), 3), round(float(h[s : s + width].mean()), 4)])
    return out


def summarize(run: Prequential, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """The result dict of a finished run (see the module docstring)."""
    k = run.k
    methods: dict[str, Any] = {}
    user_hits: dict[str, dict[int, list[float]]] = {}
    for name in run.method_names():
        hits, rrs, ndcgs, hits20 = [], [], [], []
        per_user: dict[int, list[float]] = defaultdict(list)
        slices: dict[str, dict[str, list[float]]] = {
            "by_position": defaultdict(list),
            "by_history": defaultdict(list),
            "by_repeat": defaultdict(list),
        }
        for r in run.records:
            ranked = r.ranked[name]
            hit = hit_rate(ranked, r.target, k)
            hits.append(hit)
            rrs.append(reciprocal_rank(ranked, r.target, k))
            ndcgs.append(ndcg(ranked, r.target, k))
            hits20.append(hit_rate(ranked, r.target, HR20))
            per_user[r.user_id].append(hit)
            slices["by_position"][_pos(r.position)].append(hit)
            slices["by_history"][history_bucket(r.n_orders)].append(hit)
            slices["by_repeat"]["repeat" if r.repeat else "new"].append(hit)
        user_hits[name] = per_user
        lo, hi = bootstrap_ci(per_user, n_boot=n_boot, seed=seed)
        nb = [v for _, v in run.next_basket.get(name, [])]
        m: dict[str, Any] = {
            "hr": _mean(hits),
            "mrr": _mean(rrs),
            "ndcg": _mean(ndcgs),
            "hr_ci": [round(lo, 4), round(hi, 4)],
            "hr20": _mean(hits20),
            "by_position": {b: _mean(slices["by_position"][b]) for b in POSITIONS},
            "by_history": {b: _mean(slices["by_history"][b]) for b in HISTORIES},
            "by_repeat": {b: _mean(slices["by_repeat"][b]) for b in ("repeat", "new")},
            "slice_counts": {
                key: {b: len(v) for b, v in sorted(s.items())} for key, s in slices.items()
            },
            "window_hr": window_hr(run.records, hits),
            "next_basket_recall": _mean(nb),
        }
        if name == "streaming":
            m["rescore_ms_p50"] = round(float(np.percentile(run.rescore_ms, 50)), 4)
            m["rescore_ms_p90"] = round(float(np.percentile(run.rescore_ms, 90)), 4)
            m["rescore_ms_p50_best_of_3"] = round(float(np.percentile(run.rescore_best_ms, 50)), 4)
            m["rescore_cpu_ms_p50"] = round(float(np.percentile(run.rescore_cpu_ms, 50)), 4)
            m["n_candidates_p50"] = float(np.percentile(run.n_candidates, 50))
        methods[name] = m
    base = methods.get(LIFT_BASELINE)
    if base is not None and base["hr"]:
        for name, m in methods.items():
            lift_lo, lift_hi = bootstrap_ratio_ci(
                user_hits[name], user_hits[LIFT_BASELINE], n_boot=n_boot, seed=seed
            )
            m["lift"] = round(_total(user_hits[name]) / _total(user_hits[LIFT_BASELINE]), 4)
            m["lift_ci"] = [round(lift_lo, 4), round(lift_hi, 4)]
    return {
        "k": k,
        "n_users": len({r.user_id for r in run.records}),
        "n_events": len(run.records),
        "methods": methods,
    }
