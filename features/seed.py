"""Seeding a user's state from historical orders: the same ``apply`` fold as the stream."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from features.config import DEFAULT_CONFIG, FeatureConfig
from features.state import UserState, empty_state
from features.update import apply
from schemas.events import Event

if TYPE_CHECKING:  # pragma: no cover
    from loaders.catalog import Catalog
    from loaders.instacart import Order

__all__ = ["fold", "seed_state"]


def fold(
    state: UserState, events: Iterable[Event], config: FeatureConfig = DEFAULT_CONFIG
) -> UserState:
    """Apply events in order; the offline twin of the worker's loop.

    >>> from schemas.events import CartAdd, Checkout
    >>> s = fold(empty_state(3), [CartAdd("a", 3, 10, 1_500_000_000_000),
    ...                           Checkout("b", 3, 1_500_000_001_000)])
    >>> s.n_orders
    1
    """
    for event in events:
        state = apply(state, event, config)
    return state


def seed_state(
    user_id: int,
    orders: Iterable[Order],
    catalog: Catalog,
    config: FeatureConfig = DEFAULT_CONFIG,
) -> UserState:
    """The state after replaying a user's historical orders (``orders_to_events`` + ``apply``).

    Orders of other users are ignored.
    """
    from loaders.instacart import orders_to_events

    mine = [o for o in orders if o.user_id == user_id]
    return fold(empty_state(user_id), orders_to_events(mine, catalog), config)
