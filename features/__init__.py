"""Per-user feature state and its pure update ``apply(state, event) -> state``.

Imports only ``schemas``, the standard library, numpy and river.
"""

from features.config import DEFAULT_CONFIG, MIN_SEARCH_WEIGHT, FeatureConfig, search_weight
from features.registry import FEATURE_NAMES, FEATURES, Feature
from features.seed import fold, seed_state
from features.state import History, UserState, empty_state
from features.text import normalize_query, tokenize
from features.update import apply, commit_basket

__all__ = [
    "DEFAULT_CONFIG",
    "FEATURES",
    "FEATURE_NAMES",
    "MIN_SEARCH_WEIGHT",
    "Feature",
    "FeatureConfig",
    "History",
    "UserState",
    "apply",
    "commit_basket",
    "empty_state",
    "fold",
    "normalize_query",
    "search_weight",
    "seed_state",
    "tokenize",
]
