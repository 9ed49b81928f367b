"""A user's state as a small delta from the batch seed: what the stream keeps per shopper.

The long-term history (hundreds of products x 7 columns) is what the batch side computes;
between two builds it changes only when a checkout commits a basket, and then exactly as
:func:`features.update.commit_basket` says. So a state that grew from its seed by
:func:`features.apply` is the seed plus the orders committed since (``recent_orders`` and
``order_ts`` hold the latest of them) plus the session context (basket, searches, times,
recent event ids). :func:`to_delta` keeps only those; :func:`from_delta` rebuilds the very
same state by committing the orders onto the seed again.

A delta records the seed it grew from (orders, last order time, history length). Read against
another seed (artifacts rebuilt since), it is *rebased*: the new seed plus the orders newer
than the new seed's last order, the purchases the rebuild did not cover.

>>> from features.state import UserState, empty_state
>>> from features.update import apply
>>> from schemas.events import CartAdd, Checkout
>>> seed = apply(apply(empty_state(7), CartAdd("a", 7, 3, 10)), Checkout("c", 7, 20))
>>> state = apply(apply(seed, CartAdd("b", 7, 5, 3_600_000)), Checkout("d", 7, 3_600_010))
>>> delta = to_delta(state, seed)
>>> from_delta(delta, seed) == state
True
>>> to_delta(seed, state) is None  # not grown from that seed: no delta
True
"""

from __future__ import annotations

from typing import Any

from features.config import DEFAULT_CONFIG, FeatureConfig
from features.state import UserState
from features.update import commit_basket

__all__ = ["DELTA_FORMAT", "from_delta", "seed_mark", "to_delta"]

DELTA_FORMAT = 1


def seed_mark(seed: UserState) -> list[int]:
    """What identifies a seed: orders, last order time, history length."""
    return [seed.n_orders, seed.order_ts[-1] if seed.order_ts else 0, len(seed.history)]


def to_delta(state: UserState, seed: UserState) -> list[Any] | None:
    """The JSON-able delta of ``state`` from ``seed``, or None when ``state`` did not grow from
    ``seed`` by commits the state still remembers (then store it whole)."""
    k = state.n_orders - seed.n_orders
    if state.user_id != seed.user_id or not 0 <= k <= min(
        len(state.recent_orders), len(state.order_ts)
    ):
        return None
    new_orders = state.recent_orders[len(state.recent_orders) - k :]
    new_ts = state.order_ts[len(state.order_ts) - k :]
    if state.total_items - seed.total_items != sum(map(len, new_orders)):
        return None
    # the timeline before the k new orders must be the seed's (as far as both remember it)
    before = state.order_ts[: len(state.order_ts) - k]
    overlap = min(len(before), len(seed.order_ts))
    if overlap and before[len(before) - overlap :] != seed.order_ts[len(seed.order_ts) - overlap :]:
        return None
    if k == 0 and state.history != seed.history:
        return None
    orders = [[list(o), t] for o, t in zip(new_orders, new_ts, strict=True)]
    return [
        DELTA_FORMAT,
        seed_mark(seed),
        state.user_id,
        state.last_ts,
        list(state.basket),
        state.session_start_ts,
        state.last_add_ts,
        [list(s) for s in state.searches],
        list(state.recent_ids),
        orders,
    ]


def from_delta(
    delta: list[Any], seed: UserState, config: FeatureConfig = DEFAULT_CONFIG
) -> UserState:
    """The state :func:`to_delta` was given, rebuilt on ``seed`` (rebased when ``seed`` is not
    the one the delta grew from: only orders newer than the seed's last are committed).
    ``ValueError``/``TypeError`` when ``delta`` is malformed."""
    fmt, mark, user_id, last_ts, basket, session_start, last_add, searches, ids, orders = delta
    if fmt != DELTA_FORMAT:
        raise ValueError(f"delta format {fmt!r} is not {DELTA_FORMAT}")
    if user_id != seed.user_id:
        raise ValueError(f"delta of user {user_id} read against the seed of {seed.user_id}")
    same = list(mark) == seed_mark(seed)
    newest = seed.order_ts[-1] if seed.order_ts else None
    state = seed
    for items, ts in orders:
        if same or newest is None or ts > newest:
            state = commit_basket(state, tuple(int(p) for p in items), int(ts), config)
    return UserState(
        user_id=user_id,
        last_ts=int(last_ts),
        n_orders=state.n_orders,
        total_items=state.total_items,
        order_ts=state.order_ts,
        basket=tuple(int(p) for p in basket),
        session_start_ts=int(session_start),
        last_add_ts=int(last_add),
        searches=tuple((str(q), int(t)) for q, t in searches),
        history=state.history,
        recent_ids=tuple(str(i) for i in ids),
        recent_orders=state.recent_orders,
    )
