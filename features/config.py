"""Knobs of the per-user state: bounds, session gap, decay.

Core functions take a :class:`FeatureConfig` argument, never the process settings; the worker
builds one from ``Settings`` (``session_gap_ms``) and passes it down.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_CONFIG", "FeatureConfig"]


@dataclass(frozen=True, slots=True)
class FeatureConfig:
    """Bounds and time constants of :class:`features.state.UserState`.

    >>> FeatureConfig(session_gap_ms=1000).session_gap_ms
    1000
    """

    session_gap_ms: int = 60 * 60 * 1000
    """Inactivity after which the basket is dropped (not committed) and a new session starts."""
    max_history: int = 400
    """Distinct products remembered; beyond it the least bought (then least recent) go first."""
    max_basket: int = 100
    """Products kept in the open basket (the oldest adds are dropped beyond it)."""
    max_searches: int = 8
    """Recent searches kept (newest last)."""
    search_ttl_ms: int = 6 * 60 * 60 * 1000
    """Searches older than this (by event time) are forgotten at the next search (only a search
    changes the searches; scoring ignores them long before, see :func:`search_weight`)."""
    search_half_life_ms: int = 10 * 60 * 1000
    """Half-life of a search's weight in scoring (by event time)."""
    max_order_ts: int = 31
    """Checkout times kept (for days-between-orders features)."""
    max_recent_orders: int = 30
    """Latest committed baskets kept whole (recency and basket-similarity features)."""
    max_recent_ids: int = 64
    """Event ids remembered to make redelivered events no-ops."""


DEFAULT_CONFIG = FeatureConfig()

MIN_SEARCH_WEIGHT = 0.01
"""A search whose decayed weight is below this no longer counts in scoring (after about 6.6
half-lives: 66 minutes with the default 10-minute half-life)."""


def search_weight(age_ms: int, config: FeatureConfig = DEFAULT_CONFIG) -> float:
    """The scoring weight of a search typed ``age_ms`` ago (event time): halves every
    ``search_half_life_ms``; 0.0 once below :data:`MIN_SEARCH_WEIGHT` (the search is gone).

    >>> [search_weight(m * 60_000) for m in (0, 10, 20)]
    [1.0, 0.5, 0.25]
    >>> search_weight(66 * 60_000) > 0.0, search_weight(67 * 60_000)
    (True, 0.0)
    """
    weight = 0.5 ** (max(age_ms, 0) / config.search_half_life_ms)
    return weight if weight >= MIN_SEARCH_WEIGHT else 0.0
