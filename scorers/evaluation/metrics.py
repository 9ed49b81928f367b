"""Ranking metrics for prequential evaluation, and a user-level bootstrap confidence interval.

Per event (one cart add, one relevant item ``target``) the top-``k`` of ``ranked`` is scored:

* ``hit_rate``: 1 if the target is in the top k, else 0;
* ``reciprocal_rank``: ``1 / rank`` (rank 1-based) if in the top k, else 0;
* ``ndcg``: with a single relevant item the ideal DCG is 1, so NDCG = ``1 / log2(rank + 1)``;
* ``recall`` (next basket, several targets): share of the targets found in the top k.

Only the first occurrence of an item in ``ranked`` counts. ``k`` must be positive
(:class:`~schemas.errors.ConfigError`, it comes from the command line).

:func:`bootstrap_ci` resamples **users** (not events, since one user's events are correlated):
by default the statistic is the **pooled mean over events** of the resampled users
(:func:`pooled_mean`: each replicate is ``sum of their event values / number of their events``),
the same number as the headline metric averaged over all test events; ``statistic="users"``
gives the interval of the mean of per-user means instead (:func:`user_mean`). Percentile
interval, seeded, vectorised with numpy. :func:`bootstrap_ratio_ci` is the paired version for
the lift of one method over another (same users drawn for both in every replicate).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import numpy as np

from schemas.errors import ConfigError

__all__ = [
    "bootstrap_ci",
    "bootstrap_ratio_ci",
    "hit_rate",
    "ndcg",
    "pooled_mean",
    "rank_of",
    "recall",
    "reciprocal_rank",
    "user_mean",
]

_MAX_DRAWS_PER_CHUNK = 4_000_000
"""Bounds the bootstrap's memory: replicates are drawn in chunks of this many user indices."""


def _check_k(k: int) -> None:
    if k <= 0:
        raise ConfigError(f"k must be positive, got {k}")


def rank_of(ranked: Sequence[int], target: int, k: int) -> int | None:
    """The 1-based rank of ``target`` in the top ``k`` of ``ranked``, or None.

    >>> rank_of([5, 3, 9], 3, k=10), rank_of([5, 3, 9], 9, k=2), rank_of([], 1, k=1)
    (2, None, None)
    """
    _check_k(k)
    for rank, item in enumerate(ranked[:k], start=1):
        if item == target:
            return rank
    return None


def hit_rate(ranked: Sequence[int], target: int, k: int) -> float:
    """1.0 if ``target`` is in the top ``k`` of ``ranked``, else 0.0.

    >>> hit_rate([5, 3, 9], 9, k=3), hit_rate([5, 3, 9], 9, k=2)
    (1.0, 0.0)
    """
    return 0.0 if rank_of(ranked, target, k) is None else 1.0


def reciprocal_rank(ranked: Sequence[int], target: int, k: int) -> float:
    """``1 / rank`` of ``target`` in the top ``k`` (rank 1-based), 0.0 if absent.

    >>> reciprocal_rank([5, 3, 9], 5, k=3), reciprocal_rank([5, 3, 9], 9, k=3)
    (1.0, 0.3333333333333333)
    >>> reciprocal_rank([5, 3, 9], 7, k=3)
    0.0
    """
    rank = rank_of(ranked, target, k)
    return 0.0 if rank is None else 1.0 / rank


def ndcg(ranked: Sequence[int], target: int, k: int) -> float:
    """NDCG@k with one relevant item: ``1 / log2(rank + 1)``, 0.0 if absent.

    >>> ndcg([5, 3, 9], 5, k=3), ndcg([5, 3, 9], 9, k=3), ndcg([5, 3, 9], 9, k=2)
    (1.0, 0.5, 0.0)
    """
    rank = rank_of(ranked, target, k)
    return 0.0 if rank is None else 1.0 / math.log2(rank + 1)


def recall(ranked: Sequence[int], targets: set[int] | frozenset[int], k: int) -> float:
    """Share of ``targets`` (e.g. the next basket) found in the top ``k`` of ``ranked``.

    Raises ``ValueError`` for an empty ``targets`` (recall is undefined; skip such baskets).

    >>> recall([5, 3, 9, 1], {3, 1, 8, 7}, k=4), recall([5, 3, 9, 1], {3, 1, 8, 7}, k=2)
    (0.5, 0.25)
    """
    _check_k(k)
    if not targets:
        raise ValueError("recall needs at least one target")
    found = len(targets.intersection(ranked[:k]))
    return found / len(targets)


def _sums_counts(per_user: Mapping[int, Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
    values = [v for v in per_user.values() if len(v)]
    sums = np.fromiter((math.fsum(v) for v in values), dtype=np.float64, count=len(values))
    counts = np.fromiter((len(v) for v in values), dtype=np.float64, count=len(values))
    return sums, counts


def pooled_mean(per_user: Mapping[int, Sequence[float]]) -> float:
    """Mean over all events of all users (NaN when there are none).

    >>> pooled_mean({1: [1.0, 1.0, 1.0], 2: [0.0]})
    0.75
    """
    sums, counts = _sums_counts(per_user)
    return float(sums.sum() / counts.sum()) if len(counts) else math.nan


def user_mean(per_user: Mapping[int, Sequence[float]]) -> float:
    """Mean over users of each user's mean (users without events are left out; NaN if none).

    >>> user_mean({1: [1.0, 1.0, 1.0], 2: [0.0], 3: []})
    0.5
    """
    sums, counts = _sums_counts(per_user)
    return float((sums / counts).mean()) if len(counts) else math.nan


def bootstrap_ci(
    per_user: Mapping[int, Sequence[float]],
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    statistic: Literal["events", "users"] = "events",
) -> tuple[float, float]:
    """Percentile ``1 - alpha`` interval of the metric by resampling users with replacement.

    ``per_user`` maps a user to their per-event metric values (e.g. 0/1 hits). ``statistic``
    ``"events"`` (default) bootstraps :func:`pooled_mean`, ``"users"`` :func:`user_mean`.
    Users without events are left out; with none at all the interval is ``(nan, nan)``.
    Same inputs and seed give the same interval.

    >>> per_user = {u: [1.0] * (u % 3) + [0.0] * 2 for u in range(200)}
    >>> lo, hi = bootstrap_ci(per_user, seed=1)
    >>> lo < pooled_mean(per_user) < hi, (lo, hi) == bootstrap_ci(per_user, seed=1)
    (True, True)
    >>> bootstrap_ci({1: [1.0], 2: [1.0]})
    (1.0, 1.0)
    """
    _check_bootstrap(n_boot, alpha)
    if statistic not in ("events", "users"):
        raise ConfigError(f"statistic must be 'events' or 'users', got {statistic!r}")
    sums, counts = _sums_counts(per_user)
    means = sums / counts
    if statistic == "events":
        return _percentile_ci(
            len(counts), n_boot, seed, alpha, lambda idx: sums[idx].sum(1) / counts[idx].sum(1)
        )
    return _percentile_ci(len(counts), n_boot, seed, alpha, lambda idx: means[idx].mean(1))


def _check_bootstrap(n_boot: int, alpha: float) -> None:
    if n_boot <= 0:
        raise ConfigError(f"n_boot must be positive, got {n_boot}")
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"alpha must be between 0 and 1, got {alpha}")


def _percentile_ci(
    n: int,
    n_boot: int,
    seed: int,
    alpha: float,
    statistic: Callable[[np.ndarray], np.ndarray],
) -> tuple[float, float]:
    """Percentile interval of ``statistic`` over ``n_boot`` resamples of ``n`` users: it gets
    a ``(replicates, n)`` array of user indices and returns one value per replicate (NaN to
    leave a replicate out). ``(nan, nan)`` when no replicate is left."""
    if n == 0:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    stats = np.empty(n_boot, dtype=np.float64)
    chunk = max(1, _MAX_DRAWS_PER_CHUNK // n)
    for start in range(0, n_boot, chunk):
        rows = min(chunk, n_boot - start)
        stats[start : start + rows] = statistic(rng.integers(0, n, size=(rows, n)))
    stats = stats[~np.isnan(stats)]
    if len(stats) == 0:
        return (math.nan, math.nan)
    lo, hi = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return (float(lo), float(hi))


def bootstrap_ratio_ci(
    per_user_a: Mapping[int, Sequence[float]],
    per_user_b: Mapping[int, Sequence[float]],
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float]:
    """Paired user-bootstrap interval of ``pooled_mean(a) / pooled_mean(b)`` (a lift).

    Both maps hold the per-event values of two methods over the *same* events, so they must
    have the same users with the same number of values each (else ``ValueError``). Every
    replicate draws one set of users and takes the ratio of both pooled means over it: the
    two methods' shared ups and downs (easy and hard users) cancel, which makes the interval
    much narrower than two separate intervals suggest. Replicates where ``b`` sums to 0 are
    left out; with none left (or no events) the interval is ``(nan, nan)``.

    >>> a = {u: [1.0, 1.0, 0.0] if u % 2 else [1.0, 0.0, 0.0] for u in range(100)}
    >>> b = {u: [1.0, 0.0, 0.0] for u in range(100)}
    >>> lo, hi = bootstrap_ratio_ci(a, b, seed=1)
    >>> lo < pooled_mean(a) / pooled_mean(b) < hi, (lo, hi) == bootstrap_ratio_ci(a, b, seed=1)
    (True, True)
    >>> bootstrap_ratio_ci({1: [1.0]}, {1: [1.0], 2: [0.0]})
    Traceback (most recent call last):
    ...
    ValueError: paired bootstrap needs the same users and events in both: {1: 1} vs {1: 1, 2: 1}
    """
    _check_bootstrap(n_boot, alpha)
    shape_a = {u: len(v) for u, v in per_user_a.items() if len(v)}
    shape_b = {u: len(v) for u, v in per_user_b.items() if len(v)}
    if shape_a != shape_b:
        raise ValueError(
            f"paired bootstrap needs the same users and events in both: {shape_a} vs {shape_b}"
        )
    users = sorted(shape_a)
    sums_a = np.array([math.fsum(per_user_a[u]) for u in users], dtype=np.float64)
    sums_b = np.array([math.fsum(per_user_b[u]) for u in users], dtype=np.float64)

    def ratio(idx: np.ndarray) -> np.ndarray:
        den = sums_b[idx].sum(1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(den > 0, sums_a[idx].sum(1) / den, np.nan)

    return _percentile_ci(len(users), n_boot, seed, alpha, ratio)
