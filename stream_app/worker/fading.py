"""Fading search intent: which answers still change as time passes, and the worker's note of
them, so a timer can rescore those shoppers until their searches no longer count."""

from __future__ import annotations

from collections import OrderedDict

from features import FeatureConfig, UserState
from scorers.featurize import live_searches

__all__ = ["DecayNotes", "search_fading"]


class DecayNotes:
    """Worker-local note of answers whose search context is still fading.

    ``user -> (event_ts of the answer, wall ms it was written)``; bounded (oldest notes are
    dropped beyond ``capacity``). Lost on restart or rebalance, which only delays fading until
    the user's next event.
    """

    def __init__(self, capacity: int = 50_000) -> None:
        self.capacity = capacity
        self._notes: OrderedDict[int, tuple[int, int]] = OrderedDict()
        self.generation = 0
        """Bumped by :meth:`clear`: a write that started in an older generation must not note
        its users (their partitions may have moved to another worker meanwhile)."""

    def __len__(self) -> int:
        return len(self._notes)

    def note(self, user_id: int, event_ts: int, written_ms: int) -> None:
        """Remember an answer written at ``written_ms`` reflecting events up to ``event_ts``."""
        self._notes[user_id] = (event_ts, written_ms)
        self._notes.move_to_end(user_id)
        while len(self._notes) > self.capacity:
            self._notes.popitem(last=False)

    def forget(self, user_id: int) -> None:
        """Stop rescoring ``user_id`` on the timer."""
        self._notes.pop(user_id, None)

    def clear(self) -> None:
        """Forget everyone (partitions were revoked: other workers own those users now)."""
        self._notes.clear()
        self.generation += 1

    def due(self, now_wall_ms: int, limit: int) -> list[tuple[int, int]]:
        """Up to ``limit`` ``(user, now_ms)`` pairs, least recently written first, where
        ``now_ms`` = the answer's event time + the wall time elapsed since it was written."""
        out = []
        for user, (event_ts, written) in self._notes.items():
            out.append((user, event_ts + max(0, now_wall_ms - written)))
            if len(out) >= limit:
                break
        return out


def search_fading(state: UserState, now_ms: int, config: FeatureConfig) -> bool:
    """Whether the user's search context still changes the answer as time passes: while any
    search still counts in scoring (:func:`scorers.featurize.live_searches`, the scorer's own
    rule), so the timer's last rescore is at a time when none counts any more, and the answer
    left in Redis is the one without them.

    >>> from features import DEFAULT_CONFIG
    >>> s = UserState(1, last_ts=10, searches=(("milk", 10),))
    >>> [search_fading(s, 10 + minutes * 60_000, DEFAULT_CONFIG) for minutes in (1, 60, 67)]
    [True, True, False]
    >>> late = UserState(1, last_ts=10, searches=(("milk", 50 * 60_000), ("eggs", 10)))
    >>> search_fading(late, 100 * 60_000, DEFAULT_CONFIG)  # milk (newer, listed first) counts
    True
    """
    return bool(live_searches(state, now_ms, config))
