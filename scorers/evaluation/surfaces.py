"""The per-surface figures of an evaluation run (``surfaces`` in the ``--json`` result).

::

    {"blended":   {"hr", "hr_ci", "by_repeat": {"repeat", "new"}, "next_basket_recall",
                   "rescore_ms_p50", "baselines": {name: {same keys}}},
     "basket":    {"hr", "hr_ci", "by_repeat", "rescore_ms_p50", "baselines": {...}},
     "search":    {"hr", "hr_ci", "by_repeat", "search_rate", "rescore_ms_p50", "baselines"},
     "buy_again": {"next_basket_recall", "rescore_ms_p50", "baselines": {...}}}

Each surface is judged with the metric that fits it: HR@K on cart adds, overall and on the
never-bought slice (``by_repeat``), for ``basket`` and ``search``; recall@K of the shopper's
next order from the answer held when it starts for ``buy_again``; the blended default keeps
today's figures. Baselines are the compared methods of the same run (``popularity``,
``personal_top``, ``cached``, the blended answer) and, for ``basket``, ``cooc_raw``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from scorers.evaluation.metrics import bootstrap_ci, hit_rate
from scorers.evaluation.prequential import EventRecord, Prequential

__all__ = ["SURFACES", "hr_block", "summarize_surfaces"]

SURFACES = ("blended", "basket", "search", "buy_again")
_BASELINES = {
    "blended": ("popularity", "personal_top", "cached"),
    "basket": ("popularity", "personal_top", "cooc_raw", "blended"),
    "search": ("popularity", "personal_top", "blended"),
    "buy_again": ("popularity", "personal_top", "cached", "blended"),
}


def _mean(values: Sequence[float]) -> float | None:
    return round(float(np.mean(values)), 4) if len(values) else None


def hr_block(
    records: Sequence[EventRecord],
    ranked_of: Callable[[EventRecord], list[int]],
    k: int,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """HR@K over ``records`` of the lists ``ranked_of`` picks: overall with its user-bootstrap
    interval, and on the repeat / never-bought slices.

    >>> recs = [EventRecord(1, 0, 5, 0, 1, True, {"m": [5]}), EventRecord(2, 0, 7, 0, 1, False,
    ...         {"m": [5]})]
    >>> b = hr_block(recs, lambda r: r.ranked["m"], 10)
    >>> b["hr"], b["by_repeat"]
    (0.5, {'repeat': 1.0, 'new': 0.0})
    """
    hits: list[float] = []
    per_user: dict[int, list[float]] = defaultdict(list)
    slices: dict[str, list[float]] = {"repeat": [], "new": []}
    for r in records:
        hit = hit_rate(ranked_of(r), r.target, k)
        hits.append(hit)
        per_user[r.user_id].append(hit)
        slices["repeat" if r.repeat else "new"].append(hit)
    lo, hi = bootstrap_ci(per_user, n_boot=n_boot, seed=seed) if hits else (np.nan, np.nan)
    return {
        "hr": _mean(hits),
        "hr_ci": [round(lo, 4), round(hi, 4)],
        "by_repeat": {b: _mean(v) for b, v in slices.items()},
        "slice_counts": {b: len(v) for b, v in slices.items()},
    }


def _ms(run: Prequential, name: str) -> dict[str, float]:
    values = run.surface_ms.get(name) or []
    if not values:
        return {}
    return {
        "rescore_ms_p50": round(float(np.percentile(values, 50)), 4),
        "rescore_ms_p90": round(float(np.percentile(values, 90)), 4),
    }


def _nb(pairs: Sequence[tuple[int, float]]) -> float | None:
    return _mean([v for _, v in pairs])


def summarize_surfaces(
    run: Prequential, search_rate: float, n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """The ``surfaces`` object of the result dict (module docstring)."""
    k, recs = run.k, run.records
    have = set(run.method_names())

    def method(name: str) -> Callable[[EventRecord], list[int]]:
        return lambda r: r.ranked[name]

    def surface(name: str) -> Callable[[EventRecord], list[int]]:
        return lambda r: r.surfaces[name]

    def block(of: Callable[[EventRecord], list[int]]) -> dict[str, Any]:
        return hr_block(recs, of, k, n_boot, seed)

    blended_of = method("streaming")
    hr_baselines = {
        n: block(method(n)) for n in ("popularity", "personal_top", "cached") if n in have
    }
    blended = block(blended_of)
    nb = {n: _nb(run.next_basket.get(name, [])) for n, name in _NB_NAMES.items()}
    out: dict[str, Any] = {
        "blended": {
            **blended,
            "next_basket_recall": nb["blended"],
            **_ms(run, "blended"),
            "baselines": {
                n: {**b, "next_basket_recall": nb.get(n)} for n, b in hr_baselines.items()
            },
        }
    }
    if recs and "basket" in recs[0].surfaces:
        out["basket"] = {
            **block(surface("basket")),
            **_ms(run, "basket"),
            "baselines": {
                **{n: b for n, b in hr_baselines.items() if n in _BASELINES["basket"]},
                "cooc_raw": block(surface("cooc_raw")),
                "blended": blended,
            },
        }
        out["search"] = {
            **block(surface("search")),
            "search_rate": search_rate,
            **_ms(run, "search"),
            "baselines": {
                **{n: b for n, b in hr_baselines.items() if n in _BASELINES["search"]},
                "blended": blended,
            },
        }
    if run.surface_next_basket.get("buy_again"):
        out["buy_again"] = {
            "next_basket_recall": _nb(run.surface_next_basket["buy_again"]),
            "n_orders": len(run.surface_next_basket["buy_again"]),
            **_ms(run, "buy_again"),
            "baselines": {
                n: {"next_basket_recall": v}
                for n, v in nb.items()
                if n in _BASELINES["buy_again"] and v is not None
            },
        }
    return out


_NB_NAMES = {
    "popularity": "popularity",
    "personal_top": "personal_top",
    "cached": "cached",
    "blended": "streaming",
}
"""Surface-side name -> the method name whose next-basket recall the run recorded."""
