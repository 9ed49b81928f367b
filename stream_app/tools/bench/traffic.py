"""The bench's traffic: which events, in which order (pure: no I/O, no clock).

A store's traffic interleaves shoppers: consecutive events come from different shoppers, while
each shopper's own events keep their order (:func:`interleave`, the default). ``--grouped``
publishes shopper by shopper instead (:func:`grouped`), the best case for batching. The paced
phase replays the backlog again, shifted later in time with new event ids, as many passes as
its length needs (:func:`paced_events`), so every paced event is newer than anything its
shopper had and its answer can be recognised by ``event_ts``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from itertools import islice

from loaders.instacart import Order
from schemas.errors import ConfigError
from schemas.events import MAX_TS_MS, CartAdd, Event

__all__ = [
    "PASS_GAP_MS",
    "by_user",
    "clone_orders",
    "grouped",
    "interleave",
    "last_ts_by_user",
    "paced_events",
]

PASS_GAP_MS = 24 * 60 * 60 * 1000
"""Time between a shopper's last event of one pass and their first of the next: a new session."""


def clone_orders(orders: Sequence[Order], k: int) -> list[Order]:
    """``orders`` and ``k - 1`` copies of them, each copy under new user and order ids
    (``id + i * (max id + 1)``): a store with ``k`` times as many shoppers, on real histories.

    >>> o = Order(10, 7, 1, 0, 8, None, (196,))
    >>> [(c.order_id, c.user_id) for c in clone_orders([o], 3)]
    [(10, 7), (21, 15), (32, 23)]
    """
    if k <= 1 or not orders:
        return list(orders)
    user_stride = max(o.user_id for o in orders) + 1
    order_stride = max(o.order_id for o in orders) + 1
    return [
        replace(o, user_id=o.user_id + i * user_stride, order_id=o.order_id + i * order_stride)
        for i in range(k)
        for o in orders
    ]


def by_user(events: Iterable[Event]) -> dict[int, list[Event]]:
    """Each shopper's events in their given order; shoppers in order of first appearance."""
    users: dict[int, list[Event]] = {}
    for event in events:
        users.setdefault(event.user_id, []).append(event)
    return users


def _add(user: int, n: int) -> Event:  # doctest helper
    return CartAdd(f"e{user}-{n}", user, 1, 1_500_000_000_000 + n)


def interleave(events: Iterable[Event]) -> list[Event]:
    """Round-robin over shoppers: one event of each shopper in turn, each shopper's events in
    their own order; shoppers with more events go on alone at the end.

    >>> evs = [_add(1, 0), _add(1, 1), _add(1, 2), _add(2, 0), _add(3, 0), _add(3, 1)]
    >>> [e.event_id for e in interleave(evs)]
    ['e1-0', 'e2-0', 'e3-0', 'e1-1', 'e3-1', 'e1-2']
    """
    queues = [iter(mine) for mine in by_user(events).values()]
    out: list[Event] = []
    while queues:
        alive = []
        for queue in queues:
            event = next(queue, None)
            if event is not None:
                out.append(event)
                alive.append(queue)
        queues = alive
    return out


def grouped(events: Iterable[Event]) -> list[Event]:
    """Shopper by shopper: all of the first shopper's events, then the next shopper's...

    >>> evs = [_add(1, 0), _add(2, 0), _add(1, 1), _add(3, 0), _add(2, 1)]
    >>> [e.event_id for e in grouped(evs)]
    ['e1-0', 'e1-1', 'e2-0', 'e2-1', 'e3-0']
    """
    return [e for mine in by_user(events).values() for e in mine]


def last_ts_by_user(events: Iterable[Event]) -> dict[int, int]:
    """Each shopper's latest event time: their answer is complete once it reflects it.

    >>> last_ts_by_user([_add(1, 5), _add(2, 0), _add(1, 3)])
    {1: 1500000000005, 2: 1500000000000}
    """
    last: dict[int, int] = {}
    for event in events:
        last[event.user_id] = max(last.get(event.user_id, 0), event.ts)
    return last


def paced_events(pool: Sequence[Event], n: int, *, shopper_order: bool = False) -> list[Event]:
    """``n`` events for the paced phase: passes over ``pool``, pass ``p`` (from 1) shifting
    each shopper's events by ``p`` times their span plus :data:`PASS_GAP_MS`, with event ids
    suffixed ``~p{p}`` (the worker drops event ids it has seen). Within a pass each shopper's
    events are in time order, so a shopper's paced events are sent in increasing ``ts``;
    shoppers are interleaved (or, with ``shopper_order``, grouped).

    >>> pool = [_add(1, 0), _add(1, 10), _add(2, 0)]
    >>> out = paced_events(pool, 5)
    >>> PASS_GAP_MS, [(e.event_id, e.ts - 1_500_000_000_000) for e in out]
    ... # doctest: +NORMALIZE_WHITESPACE
    (86400000, [('e1-0~p1', 86400010), ('e2-0~p1', 86400000), ('e1-10~p1', 86400020),
                ('e1-0~p2', 172800020), ('e2-0~p2', 172800000)])
    >>> paced_events([], 3)
    Traceback (most recent call last):
    ...
    schemas.errors.ConfigError: the paced phase needs events to replay, and the backlog is empty
    """
    if not pool:
        raise ConfigError("the paced phase needs events to replay, and the backlog is empty")
    users = {u: sorted(mine, key=lambda e: e.ts) for u, mine in by_user(pool).items()}
    span = {u: mine[-1].ts - mine[0].ts + PASS_GAP_MS for u, mine in users.items()}
    order = grouped if shopper_order else interleave
    base = order(e for mine in users.values() for e in mine)
    passes = math.ceil(n / len(base))
    latest = max(e.ts + passes * span[e.user_id] for e in base)
    if latest >= MAX_TS_MS:
        raise ConfigError(
            f"{passes} passes over the backlog would move event times past the year 2100; "
            "replay more orders (--last-orders) or fewer events (--rate x --seconds)"
        )
    return list(islice(_passes(base, span), n))


def _passes(base: list[Event], span: dict[int, int]) -> Iterator[Event]:
    p = 0
    while True:
        p += 1
        for e in base:
            yield replace(e, event_id=f"{e.event_id}~p{p}", ts=e.ts + p * span[e.user_id])
