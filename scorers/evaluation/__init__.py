"""Offline evaluation: ranking metrics (``metrics``) and the prequential replay built on them."""

from scorers.evaluation.metrics import (
    bootstrap_ci,
    hit_rate,
    ndcg,
    pooled_mean,
    rank_of,
    recall,
    reciprocal_rank,
    user_mean,
)

__all__ = [
    "bootstrap_ci",
    "hit_rate",
    "ndcg",
    "pooled_mean",
    "rank_of",
    "recall",
    "reciprocal_rank",
    "user_mean",
]
