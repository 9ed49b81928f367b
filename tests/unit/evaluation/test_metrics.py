"""scorers.evaluation.metrics: exact values on hand-made rankings, and the bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest

from schemas.errors import ConfigError
from scorers.evaluation import (
    bootstrap_ci,
    bootstrap_ratio_ci,
    hit_rate,
    ndcg,
    pooled_mean,
    rank_of,
    recall,
    reciprocal_rank,
    user_mean,
)

RANKED = [40, 10, 30, 20, 50]


@pytest.mark.parametrize(
    ("target", "k", "hr", "rr", "gain"),
    [
        (40, 5, 1.0, 1.0, 1.0),
        (10, 5, 1.0, 0.5, 1 / math.log2(3)),
        (30, 5, 1.0, 1 / 3, 0.5),
        (20, 5, 1.0, 0.25, 1 / math.log2(5)),
        (50, 5, 1.0, 0.2, 1 / math.log2(6)),
        (50, 4, 0.0, 0.0, 0.0),
        (99, 5, 0.0, 0.0, 0.0),
        (30, 3, 1.0, 1 / 3, 0.5),
    ],
)
def test_single_target_metrics_exact_values(
    target: int, k: int, hr: float, rr: float, gain: float
) -> None:
    assert hit_rate(RANKED, target, k) == hr
    assert reciprocal_rank(RANKED, target, k) == pytest.approx(rr, abs=0, rel=1e-15)
    assert ndcg(RANKED, target, k) == pytest.approx(gain, abs=0, rel=1e-15)


def test_only_the_first_occurrence_counts_and_short_lists_are_fine() -> None:
    assert rank_of([7, 8, 7], 7, k=3) == 1
    assert reciprocal_rank([8, 7, 7], 7, k=3) == 0.5
    assert hit_rate([], 7, k=10) == 0.0
    assert ndcg([7], 7, k=10) == 1.0


def test_recall_exact_values() -> None:
    assert recall(RANKED, {10, 20, 60}, k=5) == pytest.approx(2 / 3)
    assert recall(RANKED, {10, 20, 60}, k=2) == pytest.approx(1 / 3)
    assert recall(RANKED, {60}, k=5) == 0.0
    assert recall(RANKED, {40, 10}, k=2) == 1.0
    with pytest.raises(ValueError):
        recall(RANKED, set(), k=5)


def test_k_must_be_positive() -> None:
    for fn in (hit_rate, reciprocal_rank, ndcg):
        with pytest.raises(ConfigError):
            fn(RANKED, 40, 0)
    with pytest.raises(ConfigError):
        recall(RANKED, {40}, k=0)


def test_pooled_and_user_means_exact() -> None:
    per_user = {1: [1.0, 0.0, 1.0, 1.0], 2: [0.0, 0.0], 3: []}
    assert pooled_mean(per_user) == pytest.approx(3 / 6)
    assert user_mean(per_user) == pytest.approx((0.75 + 0.0) / 2)
    assert math.isnan(pooled_mean({})) and math.isnan(user_mean({1: []}))


def test_bootstrap_is_deterministic_per_seed_and_brackets_the_mean() -> None:
    rng = np.random.default_rng(42)
    per_user = {u: list(rng.random(int(rng.integers(1, 30))) < 0.3) for u in range(300)}
    per_user = {u: [float(x) for x in v] for u, v in per_user.items()}
    ci = bootstrap_ci(per_user, n_boot=500, seed=3)
    assert ci == bootstrap_ci(per_user, n_boot=500, seed=3)
    assert ci != bootstrap_ci(per_user, n_boot=500, seed=4)
    assert ci[0] < pooled_mean(per_user) < ci[1]
    assert ci[1] - ci[0] < 0.1
    users_ci = bootstrap_ci(per_user, n_boot=500, seed=3, statistic="users")
    assert users_ci[0] < user_mean(per_user) < users_ci[1]


def test_bootstrap_resamples_users_not_events() -> None:
    # Two users with many identical events each: resampling events would give a tiny interval;
    # resampling users gives replicates of 0, 0.5 or 1 only.
    per_user = {1: [1.0] * 1000, 2: [0.0] * 1000}
    lo, hi = bootstrap_ci(per_user, n_boot=2000, seed=0)
    assert (lo, hi) == (0.0, 1.0)


def test_bootstrap_with_no_events_is_nan_and_bad_arguments_are_config_errors() -> None:
    assert all(math.isnan(x) for x in bootstrap_ci({1: []}))
    with pytest.raises(ConfigError):
        bootstrap_ci({1: [1.0]}, n_boot=0)
    with pytest.raises(ConfigError):
        bootstrap_ci({1: [1.0]}, alpha=1.5)


def test_ratio_bootstrap_is_paired() -> None:
    # Users differ a lot in difficulty, and method a hits whatever b hits plus 1 in 10 more
    # events: the lift is stable across users even though each HR alone moves a lot.
    rng = np.random.default_rng(7)
    b: dict[int, list[float]] = {}
    a: dict[int, list[float]] = {}
    for u in range(300):
        p = rng.uniform(0.05, 0.9)
        hits_b = rng.random(20) < p
        extra = rng.random(20) < 0.1
        b[u] = [float(x) for x in hits_b]
        a[u] = [float(x or y) for x, y in zip(hits_b, extra, strict=True)]
    lift = pooled_mean(a) / pooled_mean(b)
    lo, hi = bootstrap_ratio_ci(a, b, n_boot=1000, seed=0)
    assert lo < lift < hi and (lo, hi) == bootstrap_ratio_ci(a, b, n_boot=1000, seed=0)
    # the unpaired interval (each HR's own interval, ratio of the extremes) is much wider
    a_lo, a_hi = bootstrap_ci(a, n_boot=1000, seed=0)
    b_lo, b_hi = bootstrap_ci(b, n_boot=1000, seed=0)
    assert hi - lo < 0.5 * (a_hi / b_lo - a_lo / b_hi)


def test_ratio_bootstrap_exact_and_bad_inputs() -> None:
    same = {1: [1.0, 0.0], 2: [0.0, 1.0]}
    assert bootstrap_ratio_ci(same, same) == (1.0, 1.0)
    # a doubles b's hits for every user: every replicate's ratio is exactly 2
    assert bootstrap_ratio_ci({1: [1.0, 1.0], 2: [1.0, 1.0]}, {1: [1.0, 0.0], 2: [0.0, 1.0]}) == (
        2.0,
        2.0,
    )
    assert all(math.isnan(x) for x in bootstrap_ratio_ci({1: [1.0]}, {1: [0.0]}))
    with pytest.raises(ValueError, match="same users"):
        bootstrap_ratio_ci({1: [1.0, 0.0]}, {1: [1.0]})
    with pytest.raises(ConfigError):
        bootstrap_ratio_ci(same, same, n_boot=0)
