"""The pure state update: ``apply(state, event, config) -> new state``.

Rules (time comes only from ``event.ts``; inputs are never mutated):

* an event whose ``event_id`` is among the last ``max_recent_ids`` applied is a no-op;
* an event arriving more than ``session_gap_ms`` after the previous one starts a new session:
  the open basket is dropped *without* being committed (an abandoned cart is not a purchase);
* ``cart_add`` appends the product to the basket (a product already in it stays where it was);
* ``search`` appends the normalised query, and forgets the searches older than
  ``search_ttl_ms`` by its time (only a search changes the searches: scoring ignores a search
  long before that, after ~66 minutes, see :func:`features.config.search_weight`);
* ``checkout`` commits the basket to the long-term history as one order and empties it; a
  checkout of an empty basket records no order.

Events that arrive late (``ts`` before ``last_ts``) are applied in arrival order and never move
``last_ts`` backwards.
"""

from __future__ import annotations

from bisect import bisect_left

from features.config import DEFAULT_CONFIG, FeatureConfig
from features.state import History, UserState
from features.text import normalize_query
from schemas.events import CartAdd, Checkout, Event, Search

__all__ = ["apply", "commit_basket"]


def apply(state: UserState, event: Event, config: FeatureConfig = DEFAULT_CONFIG) -> UserState:
    """Fold one event into the state and return the new state.

    >>> from features.state import empty_state
    >>> s = empty_state(7)
    >>> s = apply(s, CartAdd("e1", 7, 196, 1_500_000_000_000))
    >>> s = apply(s, CartAdd("e1", 7, 196, 1_500_000_000_000))  # redelivered: no-op
    >>> s.basket
    (196,)
    >>> s = apply(s, Checkout("e2", 7, 1_500_000_060_000))
    >>> s.basket, s.n_orders, s.history.row(196)["count"]
    ((), 1, 1)
    """
    if event.event_id in state.recent_ids:
        return state
    ts = event.ts
    recent_ids = (*state.recent_ids, event.event_id)[-config.max_recent_ids :]
    basket = state.basket
    session_start = state.session_start_ts
    if state.last_ts and ts - state.last_ts > config.session_gap_ms:
        basket = ()
        session_start = ts
    elif not state.last_ts:
        session_start = ts
    last_ts = max(state.last_ts, ts)

    if isinstance(event, CartAdd):
        if event.product_id not in basket:
            basket = (*basket, event.product_id)[-config.max_basket :]
        return _replace(
            state,
            last_ts=last_ts,
            recent_ids=recent_ids,
            basket=basket,
            session_start_ts=session_start,
            last_add_ts=max(state.last_add_ts, ts),
        )
    searches = state.searches
    if isinstance(event, Search):
        # only a search changes the searches (a surface reading them is rescored on searches)
        if searches and ts - searches[0][1] > config.search_ttl_ms:
            searches = tuple(s for s in searches if ts - s[1] <= config.search_ttl_ms)
        query = normalize_query(event.query)
        if query:
            searches = (*searches, (query, ts))[-config.max_searches :]
        return _replace(
            state,
            last_ts=last_ts,
            recent_ids=recent_ids,
            basket=basket,
            session_start_ts=session_start,
            searches=searches,
        )
    if isinstance(event, Checkout):
        committed = commit_basket(state, basket, ts, config) if basket else state
        return _replace(
            committed,
            last_ts=last_ts,
            recent_ids=recent_ids,
            basket=(),
            session_start_ts=ts,
        )
    raise TypeError(f"not an event: {event!r}")  # pragma: no cover - typed callers only


def _replace(state: UserState, **changes: object) -> UserState:
    # dataclasses.replace re-runs __init__ through a generic path; this is the same, explicit.
    values = {
        "user_id": state.user_id,
        "last_ts": state.last_ts,
        "n_orders": state.n_orders,
        "total_items": state.total_items,
        "order_ts": state.order_ts,
        "basket": state.basket,
        "session_start_ts": state.session_start_ts,
        "last_add_ts": state.last_add_ts,
        "searches": state.searches,
        "history": state.history,
        "recent_ids": state.recent_ids,
        "recent_orders": state.recent_orders,
    }
    values.update(changes)
    return UserState(**values)  # type: ignore[arg-type]


def commit_basket(
    state: UserState, basket: tuple[int, ...], ts: int, config: FeatureConfig = DEFAULT_CONFIG
) -> UserState:
    """The state after ``basket`` was bought as one order at time ``ts`` (basket untouched).

    When more than ``max_history`` products are known, the least useful are dropped: fewest
    purchases first, then the longest ago.

    >>> from features.state import empty_state
    >>> s = commit_basket(empty_state(1), (4, 2), 100)
    >>> s.history.pid, s.history.pos_sum, s.n_orders
    ((2, 4), (1, 0), 1)
    """
    h = state.history
    order = state.n_orders + 1
    cols = [
        list(h.pid),
        list(h.count),
        list(h.first_order),
        list(h.last_order),
        list(h.first_ts),
        list(h.last_ts),
        list(h.pos_sum),
    ]
    pid, count, _, last_order, _, last_ts, pos_sum = cols
    for pos, product in enumerate(basket):
        i = bisect_left(pid, product)
        if i < len(pid) and pid[i] == product:
            count[i] += 1
            last_order[i] = order
            last_ts[i] = ts
            pos_sum[i] += pos
        else:
            for col, value in zip(cols, (product, 1, order, order, ts, ts, pos), strict=True):
                col.insert(i, value)
    if len(pid) > config.max_history:
        keep = sorted(range(len(pid)), key=lambda j: (count[j], last_order[j]), reverse=True)
        keep = sorted(keep[: config.max_history])
        cols = [[col[j] for j in keep] for col in cols]
    history = History(*(tuple(col) for col in cols))
    return _replace(
        state,
        n_orders=order,
        total_items=state.total_items + len(basket),
        order_ts=(*state.order_ts, ts)[-config.max_order_ts :],
        history=history,
        recent_orders=(*state.recent_orders, tuple(basket))[-config.max_recent_orders :],
    )
