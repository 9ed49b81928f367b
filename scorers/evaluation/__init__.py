"""Offline evaluation: ranking metrics (``metrics``) and the prequential replay built on them.

``methods`` (the compared methods), ``prequential`` (the test-then-apply loop), ``summary``
(records -> the result dict) and ``run`` (orders -> result) are imported from their modules;
they are not re-exported here so that importing the metrics stays cheap.
"""

from scorers.evaluation.metrics import (
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
