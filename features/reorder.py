"""Per-user reorder buffer: the worker's state is the fold of the user's events in event-time order.

Why: the three input topics are consumed independently (Kafka orders a partition, never
several topics), so a checkout can reach the worker before the cart adds it closes, and a
producer's per-partition batching reorders them further. ``features.apply`` applies late
events in arrival order, which would make the online state depend on delivery timing, and
the online answer differ from the offline replay of the same log.

So the table value of a user is ``(base, pending, current)``: ``pending`` holds the user's
recent events sorted by :func:`apply_key`, ``base`` is the state before them and
``current = fold(base, pending)``. An event in order (the common case) is one ``apply`` on
``current``; an out-of-order one is inserted at its place and ``current`` is re-folded from
``base``. Each pending event keeps the time it was appended to Kafka (``arrived``), and
settles into ``base`` once the stream shows nothing can still go before it:
``arrived + hold_ms < frontier``, where the caller's ``frontier`` says up to which append time
every input partition of the user has been read (:mod:`stream_app.worker.frontier`). ``hold_ms``
covers producers, not the consumer: how much later a producer may append an event than a
later-stamped event of the same user. Neither a slow consumer, a backlog, a crash nor a broker
outage lets an event settle before the events it follows have been read: the state is the
offline fold over the event-time-sorted log whenever producers keep to ``hold_ms``. (A wall-time
hold, tried first, let a checkout settle before its cart adds whenever the worker stalled
longer than the hold, e.g. a restart after kill -9.) Beyond ``max_pending`` held events the
oldest settle anyway (counted by the worker as ``forced_settles``).

Redeliveries: Kafka is at-least-once, so after a crash the events since the last offset commit
come again, while the table's changelog already holds their effect. ``apply`` ignores an
``event_id`` among the user's latest 64, but a redelivered window longer than that would be
applied again. So the buffer also keeps, per source partition, the highest offset folded into
``current`` (``positions``), and :func:`drop_redelivered` drops a message at or below it:
exact, however long the window. Two guards keep it from dropping *new* messages:

* a stored position at or past the partition's high-water mark (the offset the next message
  will get) cannot belong to this partition: the topic was deleted and recreated (offsets
  start again at 0). The stored position is then forgotten and replaced by the new ones;
* a message whose event is not older than the user's latest event (``ts >= last_ts``) is
  never dropped here: a redelivery of one of those is among the latest ids ``apply``
  remembers, and a new one (after a recreation) must count.

Replaying a log again publishes new messages (new offsets): those are events, not
redeliveries, and are folded like the offline replay folds them. Not covered: a recreated topic
whose new offsets passed the stored ones before the user's first new message is read (then a
late event of that user can be taken for a redelivery; the worker counts every drop in its
stats, ``redelivered``).

Serialised form (:meth:`Buffered.to_bytes`): ``b"R3"`` + zlib of an orjson list: ``base`` as a
delta from the user's batch seed (:mod:`features.delta`: session context plus the orders
committed since the build; the history is the batch side's), the positions and the pending
events with their append times; ``current`` is re-folded on read. A typical shopper's value is
a few hundred bytes instead of ~12 KB (two whole states with their purchase history).
``b"R2"``/``b"R1"`` values of earlier releases are still read; an earlier release cannot read
``b"R3"`` (rolling back to one reseeds the users it touches).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from features import DEFAULT_CONFIG, FeatureConfig, UserState, apply
from features.delta import from_delta, to_delta
from schemas.errors import InvalidData, InvalidEvent
from schemas.events import Event, decode, encode

__all__ = [
    "DEFAULT_HOLD_MS",
    "DEFAULT_MAX_PENDING",
    "Buffered",
    "add",
    "add_many",
    "apply_key",
    "drop_redelivered",
    "from_bytes",
    "lateness",
    "sort_for_apply",
    "start",
    "stream_position",
]

DEFAULT_HOLD_MS = 2_000
DEFAULT_MAX_PENDING = 1024
_MAGIC = b"R3"
_MAGIC_V2 = b"R2"
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
    """Append time (ms) of each pending event (same order as ``pending``): its Kafka
    LogAppendTime, else the wall time it was read."""
    positions: tuple[tuple[str, int, int], ...] = ()
    """``(topic, partition, highest offset)`` of every source partition folded into
    ``current``, sorted."""
    seed: UserState | None = field(default=None, compare=False, repr=False)
    """The batch seed ``base`` grew from (None: unknown, e.g. read from an older format): lets
    :meth:`to_bytes` store ``base`` as a small delta from it (:mod:`features.delta`)."""
    pieces: tuple[bytes, ...] | None = field(default=None, compare=False, repr=False)
    """The serialised ``[arrived, event]`` of each pending event (None: not known yet), kept
    along as events are appended and settle: during a backlog a shopper holds dozens of
    pending events, and :meth:`to_bytes` would encode each of them again at every batch."""

    def to_bytes(self) -> bytes:
        """``b"R3"`` + zlib of an orjson list: ``base`` (a delta from :attr:`seed` when it
        grew from it, else whole), the positions and the pending events with their append
        times. ``current`` is not stored: it is ``fold(base, pending)``."""
        delta = None if self.seed is None else to_delta(self.base, self.seed)
        base: Any = (
            ["d", delta] if delta is not None else ["s", orjson.Fragment(self.base.to_bytes())]
        )
        pieces = self.pieces
        if pieces is None:
            pieces = tuple(map(_piece, self.arrived, self.pending))
        pending = orjson.Fragment(b"[" + b",".join(pieces) + b"]")
        body = orjson.dumps([base, self.positions, pending])
        return _MAGIC + zlib.compress(body, 1)


def _piece(arrived: int, event: Event) -> bytes:
    """One pending entry as :meth:`Buffered.to_bytes` writes it: ``[arrived,{event}]``.

    >>> from schemas.events import Search
    >>> _piece(5, Search("s", 1, "milk", 1_500_000_000_000))[:12]
    b'[5,{"type":"'
    """
    return b"[%d,%b]" % (arrived, _encoded(event))


_ENCODED: dict[Event, bytes] = {}
_ENCODED_MAX = 20_000


def _encoded(event: Event) -> bytes:
    """``encode(event)``, remembered: a held event is written with its user's value at every
    batch that touches the user until it settles."""
    raw = _ENCODED.get(event)
    if raw is None:
        if len(_ENCODED) >= _ENCODED_MAX:
            _ENCODED.clear()
        raw = _ENCODED[event] = encode(event)
    return raw


def from_bytes(
    raw: bytes,
    seed_of: Callable[[int], UserState] | None = None,
    config: FeatureConfig = DEFAULT_CONFIG,
) -> Buffered:
    """Parse :meth:`Buffered.to_bytes` (and the older ``R2``/``R1`` framings); ``seed_of(user)``
    gives the batch seed a delta is read against (see :func:`features.delta.from_delta`);
    :class:`InvalidData` when corrupt.

    >>> from features import empty_state
    >>> b = start(empty_state(3))
    >>> from_bytes(b.to_bytes(), empty_state) == b
    True
    >>> seen = replace(b, positions=(("cart-adds", 2, 41),))
    >>> from_bytes(seen.to_bytes(), empty_state).positions
    (('cart-adds', 2, 41),)
    """
    if raw[:2] != _MAGIC:
        return _from_framed(raw)
    try:
        base_part, seen, pending = orjson.loads(zlib.decompress(raw[2:]))
        kind, body = base_part
        if kind == "d":
            if seed_of is None:
                raise InvalidData("user state buffer is a delta: reading it needs the seed")
            seed = seed_of(int(body[2]))
            base = from_delta(body, seed, config)
        elif kind == "s":
            seed = None
            base = UserState.from_bytes(orjson.dumps(body))
        else:
            raise ValueError(f"unknown base kind {kind!r}")
        events = tuple(decode(orjson.dumps(e)) for _, e in pending)
        current = base
        for event in events:
            current = apply(current, event, config)
        return Buffered(
            base,
            events,
            current,
            tuple(int(t) for t, _ in pending),
            tuple((str(t), int(p), int(o)) for t, p, o in seen),
            seed,
        )
    except (zlib.error, orjson.JSONDecodeError, ValueError, TypeError, InvalidEvent) as exc:
        raise InvalidData(f"corrupt user state buffer: {exc}") from exc


def _from_framed(raw: bytes) -> Buffered:
    """The ``R2``/``R1`` framing of earlier releases (whole states, no seed)."""

    try:
        magic = raw[:2]
        if magic not in (_MAGIC_V2, _MAGIC_V1):
            raise InvalidData("user state buffer has an unknown format")
        (n,) = struct.unpack_from(">I", raw, 2)
        pos, parts = 6, []
        for _ in range(n):
            (size,) = struct.unpack_from(">I", raw, pos)
            if pos + 4 + size > len(raw):
                raise ValueError("truncated")
            parts.append(raw[pos + 4 : pos + 4 + size])
            pos += 4 + size
        if magic == _MAGIC_V2:
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
    if not buf.pending or apply_key(buf.pending[-1]) <= key:  # in order: the common case
        return 0, 0
    later = [t for p, t in zip(buf.pending, buf.arrived, strict=True) if apply_key(p) > key]
    return len(later), now_ms - min(later)


def start(state: UserState) -> Buffered:
    """A buffer with nothing pending, grown from the seed ``state``."""
    return Buffered(state, (), state, (), (), state)


def add(
    buf: Buffered,
    event: Event,
    config: FeatureConfig,
    now_ms: int,
    *,
    frontier: int | None = None,
    hold_ms: int = DEFAULT_HOLD_MS,
    max_pending: int = DEFAULT_MAX_PENDING,
) -> Buffered:
    """The buffer after ``event``, appended to Kafka at ``now_ms``: inserted in event-time order.

    Pending events settle into ``base`` once ``arrived + hold_ms < frontier`` (the stream
    has been read past them: see the module docstring), or beyond ``max_pending``.

    >>> from features import empty_state
    >>> from schemas.events import CartAdd, Checkout
    >>> from features import DEFAULT_CONFIG as cfg
    >>> t = 1_500_000_000_000
    >>> late = add(add(start(empty_state(1)), Checkout("c", 1, t + 60_000), cfg, 0),
    ...            CartAdd("a", 1, 5, t), cfg, 10)  # the cart add arrives after its checkout
    >>> late.current.n_orders, late.current.basket, late.current.history.pid
    (1, (), (5,))
    """
    return add_many(
        buf,
        [event],
        config,
        now_ms,
        frontier=frontier,
        hold_ms=hold_ms,
        max_pending=max_pending,
    )


def add_many(
    buf: Buffered,
    events: Iterable[Event],
    config: FeatureConfig,
    now_ms: int,
    *,
    frontier: int | None = None,
    hold_ms: int = DEFAULT_HOLD_MS,
    max_pending: int = DEFAULT_MAX_PENDING,
) -> Buffered:
    """:func:`add` for several events of one user appended by ``now_ms``: at most one re-fold.
    (Drop Kafka redeliveries first with :func:`drop_redelivered`.)

    >>> from features import empty_state, DEFAULT_CONFIG as cfg
    >>> from schemas.events import CartAdd, Checkout
    >>> t = 1_500_000_000_000
    >>> b = add_many(start(empty_state(1)), [Checkout("c", 1, t + 9), CartAdd("a", 1, 5, t)],
    ...              cfg, 0)
    >>> b.current == add(add(start(empty_state(1)), CartAdd("a", 1, 5, t), cfg, 0),
    ...                  Checkout("c", 1, t + 9), cfg, 0).current
    True
    >>> len(b.pending), len(add_many(b, [], cfg, 0, frontier=2_001).pending)  # read far enough
    (2, 0)
    """
    # Only exact redeliveries of events still pending are dropped here: folded at their place
    # they would be no-ops anyway. Whether any other event is a duplicate is for ``apply`` to
    # say *at its place in the fold*, from the ids its state remembers then: a filter against
    # the ids remembered at the start of the batch would make the state depend on how the
    # events happened to be batched (a state that forgot old ids while folding re-applies
    # them offline).
    seen = {p.event_id for p in buf.pending}
    new: list[Event] = []
    for event in events:
        if event.event_id not in seen:
            seen.add(event.event_id)
            new.append(event)
    new = sort_for_apply(new)
    pieces = buf.pieces
    if not new:
        pending, arrived, current = buf.pending, buf.arrived, buf.current
    elif not buf.pending or apply_key(new[0]) >= apply_key(buf.pending[-1]):
        pending = (*buf.pending, *new)
        arrived = (*buf.arrived, *(now_ms for _ in new))
        if pieces is not None or not buf.pending:
            pieces = (*(pieces or ()), *(_piece(now_ms, e) for e in new))
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
        pieces = None  # rare: rebuilt by to_bytes
        current = buf.base
        for event in pending:
            current = apply(current, event, config)
    # settle the oldest events once nothing can arrive before them any more
    settle = 0
    while settle < len(pending) and (
        (frontier is not None and arrived[settle] + hold_ms < frontier)
        or len(pending) - settle > max_pending
    ):
        settle += 1
    if settle == len(pending):  # all of them: fold(base, pending) is ``current`` already
        base = current
    else:
        base = buf.base
        for event in pending[:settle]:
            base = apply(base, event, config)
    if not new and not settle:
        return buf
    return Buffered(
        base,
        pending[settle:],
        current,
        arrived[settle:],
        buf.positions,
        buf.seed,
        None if pieces is None else pieces[settle:],
    )


def drop_redelivered(
    buf: Buffered,
    events: Sequence[Event],
    positions: Sequence[tuple[str, int, int]],
    highwater: Callable[[str, int], int | None] | None = None,
) -> tuple[Buffered, list[Event]]:
    """The buffer with its positions moved past ``events``, and those of ``events`` that are
    not redeliveries (see the module docstring), in their order.

    ``positions`` holds one ``(topic, partition, offset)`` per event; ``highwater(topic,
    partition)`` the partition's high-water mark (None when unknown: no recreation check).

    >>> from features import DEFAULT_CONFIG, empty_state
    >>> from schemas.events import Search
    >>> t = 1_500_000_000_000
    >>> e, later = Search("s1", 1, "milk", t), Search("s2", 1, "eggs", t + 1000)
    >>> at = [("searches", 0, 7), ("searches", 0, 8)]
    >>> buf, kept = drop_redelivered(start(empty_state(1)), [e, later], at)
    >>> buf = add_many(buf, kept, DEFAULT_CONFIG, 0)
    >>> drop_redelivered(buf, [e], at[:1])[1]  # the same message again
    []
    >>> drop_redelivered(buf, [e], at[:1], lambda t, p: 3)[1] == [e]  # offsets below 3 now
    True
    """
    if len(positions) != len(events):
        raise ValueError(f"{len(positions)} positions for {len(events)} events")
    folded = {(t, p): o for t, p, o in buf.positions}  # as of the start of this batch
    highest = dict(folded)
    last_ts = buf.current.last_ts
    kept = []
    for event, (topic, partition, offset) in zip(events, positions, strict=True):
        where = (topic, partition)
        seen = folded.get(where)
        if seen is not None and highwater is not None:
            end = highwater(topic, partition)
            if end is not None and seen >= end:  # not this partition's offset: recreated
                folded[where] = seen = None
                highest.pop(where, None)
        if seen is not None and offset <= seen and event.ts < last_ts:
            continue  # redelivered: its effect is already in ``current``
        kept.append(event)
        highest[where] = max(offset, highest.get(where, offset))
    moved = tuple(sorted((t, p, o) for (t, p), o in highest.items()))
    return (buf if moved == buf.positions else replace(buf, positions=moved)), kept


def stream_position(buf: Buffered) -> int:
    """How far into its source partitions the user's state is: the sum of ``offset + 1`` over
    :attr:`Buffered.positions` (0 before any). Every message folded in moves it, a late one
    too (it sits at a higher offset of its partition), so of two answers with the same
    ``event_ts`` the one with the larger position reflects more events: the fence's tie-break
    (``Recommendation.seq``). It goes back only when a recreated topic's offsets are forgotten.

    >>> from features import empty_state
    >>> b = start(empty_state(3))
    >>> stream_position(b), stream_position(replace(b, positions=(("a", 0, 4), ("b", 1, 0))))
    (0, 6)
    """
    return sum(offset + 1 for _, _, offset in buf.positions)
