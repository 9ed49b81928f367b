"""Watching answers land in Redis: which shoppers are done, and each paced event's delay.

Every value written under the bench's prefixes (the worker's :class:`Recommendation`, a floor's
``{"event_ts", "updated_at", "source"}``) carries the time of the last event it reflects
(``event_ts``) and the wall-clock time it was written (``updated_at``, stamped just before the
write). Polling with ``MGET`` sees each key's latest value; what the bench concludes from them
is pure (:class:`DrainTracker`, :class:`DelayMatcher`), so it is unit-tested without Redis.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson
import redis

from schemas.recommendation import reco_key

__all__ = ["AnswerPoller", "DelayMatcher", "DrainTracker", "Seen", "parse_answer"]


@dataclass(frozen=True, slots=True)
class Seen:
    """What the bench needs of a stored answer."""

    event_ts: int
    updated_at: int
    streamed: bool
    """Written by the stream (a worker or a floor), not seeded by ``build`` or the fallback."""


def parse_answer(raw: bytes) -> Seen | None:
    """The times of a stored answer; None for a value that is not one.

    >>> parse_answer(b'{"event_ts": 5, "updated_at": 9, "source": "batch", "items": []}')
    Seen(event_ts=5, updated_at=9, streamed=False)
    >>> parse_answer(b'{"event_ts": 5, "updated_at": 9, "source": "floor"}').streamed
    True
    >>> parse_answer(b"not json") is None, parse_answer(b"[1]") is None
    (True, True)
    """
    try:
        obj = orjson.loads(raw)
        return Seen(
            int(obj["event_ts"]),
            int(obj["updated_at"]),
            obj.get("source", "stream") not in ("batch", "fallback"),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None


class DrainTracker:
    """Which shoppers' answers reflect their last event, and when the first and last did.

    >>> t = DrainTracker({1: 100, 2: 200})
    >>> t.see(1, Seen(50, 1_000, streamed=False))  # the seeded batch answer: not an answer
    False
    >>> t.see(1, Seen(60, 1_020, True)), t.first_ms, t.complete
    (False, 1020, False)
    >>> t.see(1, Seen(100, 1_050, True)), t.see(2, Seen(250, 1_100, True))
    (True, True)
    >>> t.see(2, Seen(250, 1_200, True))  # a later answer: the shopper was already done
    False
    >>> t.complete, t.done_ms, t.waiting
    (True, 1100, [])
    """

    def __init__(self, last_ts: Mapping[int, int]) -> None:
        self.last_ts = dict(last_ts)
        self.first_ms: int | None = None
        """``updated_at`` of the earliest streamed answer seen."""
        self.done: dict[int, int] = {}
        """Shopper -> ``updated_at`` of the first answer seen that reflects their last event."""

    def see(self, user: int, seen: Seen) -> bool:
        """Note an answer of ``user``; True when it is the one that completes the shopper."""
        if not seen.streamed:
            return False
        if self.first_ms is None or seen.updated_at < self.first_ms:
            self.first_ms = seen.updated_at
        if user in self.done or seen.event_ts < self.last_ts[user]:
            return False
        self.done[user] = seen.updated_at
        return True

    def saw_first(self, ms: int | None) -> None:
        """An answer was written at ``ms`` (the writer says so), maybe before any seen."""
        if ms is not None and (self.first_ms is None or ms < self.first_ms):
            self.first_ms = ms

    @property
    def waiting(self) -> list[int]:
        """Shoppers not done yet."""
        return [u for u in self.last_ts if u not in self.done]

    @property
    def complete(self) -> bool:
        """Whether every shopper's answer reflects their last event."""
        return len(self.done) == len(self.last_ts)

    @property
    def done_ms(self) -> int | None:
        """When the last shopper to complete did (so far)."""
        return max(self.done.values()) if self.done else None


class DelayMatcher:
    """Each paced event's delay from its send to the first answer reflecting it.

    The producer thread calls :meth:`sent` (a shopper's events in increasing ``ts``); the
    poller calls :meth:`answered`. An answer with ``event_ts`` reflects every event of the
    shopper up to that time. (Appends and pops of a ``deque`` are thread-safe.)

    >>> m = DelayMatcher()
    >>> m.sent(7, ts=100, wall_ms=1_000.0); m.sent(7, ts=200, wall_ms=1_010.0)
    >>> m.answered(7, event_ts=100, updated_at=1_040), m.delays_ms, m.unmatched
    (1, [40.0], 1)
    >>> m.answered(7, event_ts=200, updated_at=1_050), m.delays_ms, m.users()
    (1, [40.0, 40.0], [])
    >>> m.answered_per_s(), m.tail_s()  # 2 events answered 50 ms after the first send
    (40.0, 0.04)
    """

    def __init__(self) -> None:
        self.pending: dict[int, deque[tuple[int, float]]] = {}
        self.delays_ms: list[float] = []
        self.first_sent_ms: float | None = None
        self.last_sent_ms: float | None = None
        self.last_answer_ms: int | None = None
        """The latest ``updated_at`` of an answer that answered a paced event."""

    def sent(self, user: int, ts: int, wall_ms: float) -> None:
        """An event of ``user`` at ``ts`` was handed to the producer at ``wall_ms``."""
        self.pending.setdefault(user, deque()).append((ts, wall_ms))
        if self.first_sent_ms is None:
            self.first_sent_ms = wall_ms
        self.last_sent_ms = wall_ms

    def answered(self, user: int, event_ts: int, updated_at: int) -> int:
        """An answer of ``user`` reflecting events up to ``event_ts`` was written at
        ``updated_at``; how many pending events it answered."""
        queue = self.pending.get(user)
        n = 0
        while queue and queue[0][0] <= event_ts:
            _, wall = queue.popleft()
            self.delays_ms.append(updated_at - wall)
            n += 1
        if n and (self.last_answer_ms is None or updated_at > self.last_answer_ms):
            self.last_answer_ms = updated_at
        return n

    def answered_per_s(self) -> float | None:
        """Events answered per second, from the first send to the last answer: below the
        sending rate, the consumer did not keep up and the delays are mostly queueing."""
        if self.first_sent_ms is None or self.last_answer_ms is None:
            return None
        seconds = (self.last_answer_ms - self.first_sent_ms) / 1000
        return round(len(self.delays_ms) / seconds, 1) if seconds > 0 else None

    def tail_s(self) -> float | None:
        """Seconds from the last send to the last answer."""
        if self.last_sent_ms is None or self.last_answer_ms is None:
            return None
        return round((self.last_answer_ms - self.last_sent_ms) / 1000, 3)

    def users(self) -> list[int]:
        """Shoppers with events still waiting for an answer."""
        return [u for u, q in list(self.pending.items()) if q]

    @property
    def unmatched(self) -> int:
        """Events sent and not answered yet."""
        return sum(len(q) for q in list(self.pending.values()))


class AnswerPoller:
    """``MGET`` of shoppers' answer keys; yields only values that changed since the last poll
    (parsing every value at every poll would cost the bench more than the reads)."""

    def __init__(self, client: redis.Redis, prefix: str, chunk: int = 2_000) -> None:
        self.client = client
        self.prefix = prefix
        self.chunk = chunk
        self._keys: dict[int, str] = {}
        self._last: dict[int, bytes] = {}

    def poll(self, users: Sequence[int]) -> list[tuple[int, Seen]]:
        """New answers of ``users`` as ``(user, seen)``; Redis errors propagate."""
        out: list[tuple[int, Seen]] = []
        for i in range(0, len(users), self.chunk):
            part = users[i : i + self.chunk]
            keys = [self._key(u) for u in part]
            for user, raw in zip(part, self.client.mget(keys), strict=True):
                if raw is None or self._last.get(user) == raw:
                    continue
                self._last[user] = raw
                seen = parse_answer(raw)
                if seen is not None:
                    out.append((user, seen))
        return out

    def _key(self, user: int) -> str:
        key = self._keys.get(user)
        if key is None:
            key = self._keys[user] = reco_key(user, self.prefix)
        return key
