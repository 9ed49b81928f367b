"""Per-user reorder buffer: the worker's state is the fold of the user's events in event-time order.

Why: the three input topics are consumed independently (Kafka orders a partition, never
several topics), so a checkout can reach the worker before the cart adds it closes, and a
producer's per-partition batching reorders them further. ``features.apply`` applies late
events in arrival order, which would make the online state depend on delivery timing, and
the online answer differ from the offline replay of the same log.

So the table value of a user is ``(base, pending, current)``: ``pending`` holds the user's
recently *arrived* events sorted by :func:`apply_key`, ``base`` is the state before them and
``current = fold(base, pending)``. An event in order (the common case) is one ``apply`` on
``current``; an out-of-order one is inserted at its place and ``current`` is re-folded from
``base``. Pending events are folded into ``base`` (settled) ``hold_ms`` of wall time after
they arrived (or beyond ``max_pending``): cross-topic skew is a matter of fetch and batching
timing: tens of ms when the worker keeps up, but it grows with the consumer's lag (6 s was
seen while a 2-core machine replayed 5.8k events ``--max``; the worker's stats page reports
the largest seen, ``max_late_ms``), while in event time it is unbounded (a ``--max``
replay pushes months of events through in seconds), so a bound in event time cannot work.
(A Kafka-Streams-like watermark, the minimum over the three topics of the latest ``ts``
delivered, was tried and dropped: replaying old events into topics that have seen newer ones
breaks its premise.)
The result equals the offline fold over the event-time-sorted log whenever no event arrives
more than ``hold_ms`` after a later-stamped event of the same user. Everything is in the
changelog-backed table, so nothing is lost between batches.

Redeliveries: Kafka is at-least-once, so after a crash the events since the last offset commit
come again, while the table's changelog already holds their effect. ``apply`` ignores an
``event_id`` among the user's latest 64, but a redelivered window longer than that would be
applied again. So the buffer also keeps, per source partition, the highest offset folded into
``current`` (``positions``), and :func:`add_many` drops a message at or below it: exact, however
long the window. A message is dropped only if its event is also no newer than ``current``'s
``last_ts`` (a redelivered event always is), so input topics recreated from offset 0 cannot
swallow new events. Replaying a log again publishes new messages (new offsets): those are
events, not redeliveries, and are folded like the offline replay folds them.

Serialised form: ``b"R2"`` + count + length-prefixed ``base``, ``current``
(``UserState.to_bytes``), the positions (JSON ``[[topic, partition, offset], ...]``) and each
pending event (8-byte arrival ms + ``encode(event)``). ``b"R1"`` values (no positions) are
still read.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import orjson

from features import FeatureConfig, UserState, apply
from schemas.errors import InvalidData, InvalidEvent
from schemas.events import Event, decode, encode

__all__ = [
    "DEFAULT_HOLD_MS",
    "DEFAULT_MAX_PENDING",
    "Buffered",
    "add",
    "add_many",
    "apply_key",
    "from_bytes",
    "lateness",
    "sort_for_apply",
    "start",
]

DEFAULT_HOLD_MS = 30_000
DEFAULT_MAX_PENDING = 256
_MAGIC = b"R2"
_MAGIC_V1 = b"R1"
_TYPE_RANK = {"search": 0, "cart_add": 1, "checkout": 2}


def apply_key(event: Event) -> tuple[int, int]:
    """Event-time order; at equal ``ts`` searches, then cart adds, then checkouts.

    >>> from schemas.events import CartAdd, Checkout
    >>> t = 1_500_000_000_000
    >>> apply_key(Checkout("c", 1, t)) > apply_key(CartAdd("a", 1, 5, t))
    True
    """
    return event.ts, _TYPE_RANK[event.type]


def sort_for_apply(events: Iterable[Event]) -> list[Event]:
    """Events in apply order (stable: equal keys keep their given order)."""
    return sorted(events, key=apply_key)


@dataclass(frozen=True, slots=True)
class Buffered:
    """A user's state with its reorder buffer (``current == fold(base, pending)``)."""

    base: UserState
    pending: tuple[Event, ...]
    current: UserState
    arrived: tuple[int, ...] = ()
    """Wall-clock ms each pending event arrived (same order as ``pending``)."""
    positions: tuple[tuple[str, int, int], ...] = ()
    """``(topic, partition, highest offset)`` of every source partition folded into
    ``current``, sorted."""

    def to_bytes(self) -> bytes:
        """Compact framing of the parts."""
        events = [
            struct.pack(">Q", t) + encode(e)
            for t, e in zip(self.arrived, self.pending, strict=True)
        ]
        parts = [
            self.base.to_bytes(),
            self.current.to_bytes(),
            orjson.dumps(self.positions),
            *events,
        ]
        out = [_MAGIC, struct.pack(">I", len(parts))]
        for part in parts:
            out.append(struct.pack(">I", len(part)))
            out.append(part)
        return b"".join(out)


def from_bytes(raw: bytes) -> Buffered:
    """Parse :meth:`Buffered.to_bytes`; :class:`InvalidData` when corrupt.

    >>> from features import empty_state
    >>> b = start(empty_state(3))
    >>> from_bytes(b.to_bytes()) == b
    True
    >>> seen = Buffered(b.base, (), b.current, (), (("cart-adds", 2, 41),))
    >>> from_bytes(seen.to_bytes()).positions
    (('cart-adds', 2, 41),)
    """
    try:
        magic = raw[:2]
        if magic not in (_MAGIC, _MAGIC_V1):
            raise InvalidData("user state buffer has an unknown format")
        (n,) = struct.unpack_from(">I", raw, 2)
        pos, parts = 6, []
        for _ in range(n):
            (size,) = struct.unpack_from(">I", raw, pos)
            if pos + 4 + size > len(raw):
                raise ValueError("truncated")
            parts.append(raw[pos + 4 : pos + 4 + size])
            pos += 4 + size
        if magic == _MAGIC:
            base, current, seen, *events = parts
            positions = tuple((str(t), int(p), int(o)) for t, p, o in orjson.loads(seen))
        else:
            base, current, *events = parts
            positions = ()
        return Buffered(
            UserState.from_bytes(base),
            tuple(decode(e[8:]) for e in events),
            UserState.from_bytes(current),
            tuple(struct.unpack_from(">Q", e)[0] for e in events),
            positions,
        )
    except (struct.error, ValueError, TypeError, InvalidEvent) as exc:
        raise InvalidData(f"corrupt user state buffer: {exc}") from exc


def lateness(buf: Buffered, event: Event, now_ms: int) -> tuple[int, int]:
    """How many pending events ``event`` goes before, and how long (ms) after the first of them
    it arrived; ``(0, 0)`` when it arrived in order."""
    key = apply_key(event)
    later = [t for p, t in zip(buf.pending, buf.arrived, strict=True) if apply_key(p) > key]
    return (len(later), now_ms - min(later)) if later else (0, 0)


def start(state: UserState) -> Buffered:
    """A buffer with nothing pending."""
    return Buffered(state, (), state, ())


def add(
    buf: Buffered,
    event: Event,
    config: FeatureConfig,
    now_ms: int,
    *,
    hold_ms: int = DEFAULT_HOLD_MS,
    max_pending: int = DEFAULT_MAX_PENDING,
) -> Buffered:
    """The buffer after ``event`` arrived at wall time ``now_ms``: inserted in event-time order.

    Pending events settle into ``base`` once they arrived more than ``hold_ms`` ago, or
    beyond ``max_pending``.

    >>> from features import empty_state
    >>> from schemas.events import CartAdd, Checkout
    >>> from features import DEFAULT_CONFIG as cfg
    >>> t = 1_500_000_000_000
    >>> late = add(add(start(empty_state(1)), Checkout("c", 1, t + 60_000), cfg, 0),
    ...            CartAdd("a", 1, 5, t), cfg, 10)  # the cart add arrives after its checkout
    >>> late.current.n_orders, late.current.basket, late.current.history.pid
    (1, (), (5,))
    """
    return add_many(buf, [event], config, now_ms, hold_ms=hold_ms, max_pending=max_pending)


def add_many(
    buf: Buffered,
    events: Iterable[Event],
    config: FeatureConfig,
    now_ms: int,
    *,
    hold_ms: int = DEFAULT_HOLD_MS,
    max_pending: int = DEFAULT_MAX_PENDING,
    positions: Sequence[tuple[str, int, int]] | None = None,
) -> Buffered:
    """:func:`add` for several events of one user arrived together: at most one re-fold.

    ``positions`` (one ``(topic, partition, offset)`` per event, from Kafka) drop redelivered
    messages (see the module docstring); without them only ``apply``'s id window applies.

    >>> from features import empty_state, DEFAULT_CONFIG as cfg
    >>> from schemas.events import CartAdd, Checkout
    >>> t = 1_500_000_000_000
    >>> b = add_many(start(empty_state(1)), [Checkout("c", 1, t + 9), CartAdd("a", 1, 5, t)],
    ...              cfg, 0)
    >>> b.current == add(add(start(empty_state(1)), CartAdd("a", 1, 5, t), cfg, 0),
    ...                  Checkout("c", 1, t + 9), cfg, 0).current
    True
    """
    # Only exact redeliveries of events still pending are dropped here: folded at their place
    # they would be no-ops anyway. Whether any other event is a duplicate is for ``apply`` to
    # say *at its place in the fold*, from the ids its state remembers then: a filter against
    # the ids remembered at the start of the batch would make the state depend on how the
    # events happened to be batched (a state that forgot old ids while folding re-applies
    # them offline).
    events = list(events)
    kept_positions = buf.positions
    if positions is not None:
        events, kept_positions = _drop_redelivered(buf, events, positions)
    seen = {p.event_id for p in buf.pending}
    new: list[Event] = []
    for event in events:
        if event.event_id not in seen:
            seen.add(event.event_id)
            new.append(event)
    if not new:
        return buf if kept_positions == buf.positions else replace(buf, positions=kept_positions)
    new = sort_for_apply(new)
    if not buf.pending or apply_key(new[0]) >= apply_key(buf.pending[-1]):
        pending = (*buf.pending, *new)
        arrived = (*buf.arrived, *(now_ms for _ in new))
        current = buf.current
        for event in new:
            current = apply(current, event, config)
    else:  # something arrived late: merge (stable: earlier arrivals first) and re-fold once
        merged = sorted(
            [*zip(buf.pending, buf.arrived, strict=True), *((e, now_ms) for e in new)],
            key=lambda pair: apply_key(pair[0]),
        )
        pending = tuple(e for e, _ in merged)
        arrived = tuple(t for _, t in merged)
        current = buf.base
        for event in pending:
            current = apply(current, event, config)
    # settle the oldest events once nothing can arrive before them any more
    base = buf.base
    settle = 0
    while settle < len(pending) and (
        now_ms - arrived[settle] > hold_ms or len(pending) - settle > max_pending
    ):
        base = apply(base, pending[settle], config)
        settle += 1
    return Buffered(base, pending[settle:], current, arrived[settle:], kept_positions)


def _drop_redelivered(
    buf: Buffered, events: list[Event], positions: Sequence[tuple[str, int, int]]
) -> tuple[list[Event], tuple[tuple[str, int, int], ...]]:
    """The events that are not redeliveries, and the positions after them."""
    if len(positions) != len(events):
        raise ValueError(f"{len(positions)} positions for {len(events)} events")
    folded = {(t, p): o for t, p, o in buf.positions}  # as of the start of this batch
    highest = dict(folded)
    last_ts = buf.current.last_ts
    out = []
    for event, (topic, partition, offset) in zip(events, positions, strict=True):
        seen = folded.get((topic, partition))
        if seen is not None and offset <= seen and event.ts <= last_ts:
            continue  # redelivered: its effect is already in ``current``
        out.append(event)
        highest[(topic, partition)] = max(offset, highest.get((topic, partition), offset))
    return out, tuple(sorted((t, p, o) for (t, p), o in highest.items()))
