"""Batch artifacts, candidate generation, vectorised linear scoring, training and evaluation.

Imports only ``schemas``, ``features``, the standard library, numpy and river.
"""

from scorers.artifacts import Artifacts, build_artifacts, seed_states
from scorers.featurize import Candidates, candidate_features
from scorers.model import DEFAULT_MODEL_PATH, HAND_WEIGHTS, LinearModel, default_model
from scorers.rank import (
    batch_recommendation,
    fallback,
    rank,
    rank_many,
    recommend,
    recommend_many,
)

__all__ = [
    "DEFAULT_MODEL_PATH",
    "HAND_WEIGHTS",
    "Artifacts",
    "Candidates",
    "LinearModel",
    "batch_recommendation",
    "build_artifacts",
    "candidate_features",
    "default_model",
    "fallback",
    "rank",
    "rank_many",
    "recommend",
    "recommend_many",
    "seed_states",
]
