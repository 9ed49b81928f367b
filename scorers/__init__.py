"""Batch artifacts, candidate generation, vectorised linear scoring, training and evaluation.

Imports only ``schemas``, ``features``, the standard library, numpy and river.
"""

from scorers.artifacts import Artifacts, build_artifacts, seed_states
from scorers.discovery import Discovered, discover_many
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
from scorers.surface_models import MODELS, SurfaceModel, surfaces_many

__all__ = [
    "DEFAULT_MODEL_PATH",
    "HAND_WEIGHTS",
    "MODELS",
    "Artifacts",
    "Candidates",
    "Discovered",
    "LinearModel",
    "SurfaceModel",
    "batch_recommendation",
    "build_artifacts",
    "candidate_features",
    "default_model",
    "discover_many",
    "fallback",
    "rank",
    "rank_many",
    "recommend",
    "recommend_many",
    "seed_states",
    "surfaces_many",
]
