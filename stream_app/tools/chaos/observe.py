"""Watching the answers in Redis: are they current, and are they the offline twin's?

:class:`Answers` reads every shopper's answer with one ``MGET``; :func:`judge` (pure) says
which shoppers differ from the twin and how many events their answers do not reflect;
:func:`wait_until` polls until a condition holds for every shopper, giving up when nothing
improved for ``stall_s`` (so a broken worker ends in "never", not in a hang).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from schemas.errors import InvalidData, ServiceError
from schemas.events import Event
from schemas.recommendation import Recommendation, reco_key

__all__ = [
    "Answers",
    "Verdict",
    "event_times",
    "judge",
    "judge_surfaces",
    "same_answer",
    "wait_until",
]

Got = Mapping[int, Recommendation | None]


def event_times(events: Iterable[Event]) -> dict[int, list[int]]:
    """Each shopper's event times, sorted.

    >>> from schemas.events import Checkout
    >>> event_times([Checkout("b", 7, 20), Checkout("a", 7, 10), Checkout("c", 8, 5)])
    {7: [10, 20], 8: [5]}
    """
    out: dict[int, list[int]] = {}
    for e in events:
        out.setdefault(e.user_id, []).append(e.ts)
    return {user: sorted(ts) for user, ts in out.items()}


def same_answer(got: Recommendation | None, want: Recommendation) -> bool:
    """Whether a stored answer lists the twin's items, in order, with the same (stored, rounded)
    scores and reasons; stamps (``updated_at``, ``seq``, ``source``) do not count.

    >>> from schemas.recommendation import RecoItem
    >>> want = Recommendation(7, (RecoItem(1, 0.123456, "r"), RecoItem(2, 0.1)), "m")
    >>> got = Recommendation.from_bytes(want.to_bytes())
    >>> same_answer(got, want), same_answer(None, want)
    (True, False)
    >>> same_answer(Recommendation(7, want.items[::-1], "m"), want)
    False
    """
    return got is not None and got.to_dict()["items"] == want.to_dict()["items"]


@dataclass(frozen=True)
class Verdict:
    """How the answers compare with the twin's."""

    differing: frozenset[int]
    """Shoppers whose answer (or lack of one) is not the twin's."""
    lost_events: int
    """Events newer than the ``event_ts`` of their shopper's answer (all of a shopper's events
    when the shopper has no answer of their own)."""
    behind: frozenset[int]
    """Shoppers whose answer does not reflect their last event."""


def judge_surfaces(
    got: Mapping[tuple[int, str], Recommendation | None],
    twin: Mapping[tuple[int, str], Recommendation],
) -> list[tuple[int, str]]:
    """The ``(shopper, surface)`` pairs of ``got`` whose answer (or lack of one) is not the
    twin's.

    >>> from schemas.recommendation import RecoItem
    >>> a = Recommendation(7, (RecoItem(1, 0.5),), "m", surface="basket")
    >>> judge_surfaces({(7, "basket"): a, (7, "search"): None, (8, "basket"): a},
    ...                {(7, "basket"): a, (8, "search"): a})
    [(8, 'basket')]
    """
    return sorted(
        key
        for key, answer in got.items()
        if (key in twin and not same_answer(answer, twin[key]))
        or (key not in twin and answer is not None)
    )


def judge(got: Got, twin: Mapping[int, Recommendation], times: Mapping[int, list[int]]) -> Verdict:
    """Compare the answers read from Redis with the twin's, shopper by shopper.

    >>> from schemas.recommendation import RecoItem
    >>> a = Recommendation(7, (RecoItem(1, 0.5),), "m", event_ts=20)
    >>> v = judge({7: a, 8: None}, {7: a, 8: a}, {7: [10, 20, 30], 8: [5]})
    >>> sorted(v.differing), v.lost_events, sorted(v.behind)
    ([8], 2, [7, 8])
    """
    differing = set()
    behind = set()
    lost = 0
    for user, ts in times.items():
        answer = got.get(user)
        if user not in twin or not same_answer(answer, twin[user]):
            differing.add(user)
        reflected = answer.event_ts if answer is not None else -1
        missed = sum(1 for t in ts if t > reflected)
        if missed:
            behind.add(user)
            lost += missed
    return Verdict(frozenset(differing), lost, frozenset(behind))


class Answers:
    """Every shopper's own answer (None when absent), read with one ``MGET``."""

    def __init__(self, redis_url: str, prefix: str, users: Iterable[int]) -> None:
        import redis

        self.client = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=2)
        self.prefix = prefix
        self.users = sorted(users)
        self._keys = [reco_key(u, prefix) for u in self.users]

    def read(self) -> dict[int, Recommendation | None]:
        """The shoppers' answers; :class:`ServiceError` when Redis does not answer."""
        from redis.exceptions import RedisError

        try:
            values = self.client.mget(self._keys)
        except (RedisError, OSError) as exc:
            raise ServiceError(f"reading answers from Redis failed: {exc}") from exc
        out: dict[int, Recommendation | None] = {}
        for user, raw in zip(self.users, values, strict=True):
            try:
                out[user] = None if raw is None else Recommendation.from_bytes(raw)
            except InvalidData:  # unreadable counts as absent: the reader serves the fallback
                out[user] = None
        return out

    def read_surfaces(self, names: Iterable[str]) -> dict[tuple[int, str], Recommendation | None]:
        """Every shopper's answer of each surface of ``names`` (not ``default``), one ``MGET``;
        :class:`ServiceError` when Redis does not answer."""
        from redis.exceptions import RedisError

        keys = [(u, name) for name in names for u in self.users]
        if not keys:
            return {}
        try:
            values = self.client.mget([reco_key(u, self.prefix, name) for u, name in keys])
        except (RedisError, OSError) as exc:
            raise ServiceError(f"reading surface answers from Redis failed: {exc}") from exc
        out: dict[tuple[int, str], Recommendation | None] = {}
        for key, raw in zip(keys, values, strict=True):
            try:
                out[key] = None if raw is None else Recommendation.from_bytes(raw)
            except InvalidData:
                out[key] = None
        return out

    def has_fallback(self) -> bool:
        """Whether the global fallback key is in Redis."""
        from redis.exceptions import RedisError

        try:
            return bool(self.client.exists(reco_key(None, self.prefix)))
        except (RedisError, OSError):
            return False

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()


def wait_until(
    answers: Answers,
    done: Callable[[Got], int],
    *,
    stall_s: float,
    alive: Callable[[], bool] = lambda: True,
    drained: Callable[[], bool] = lambda: True,
    bar=None,
    poll_s: float = 0.2,
) -> float | None:
    """Poll until ``done(answers)`` counts every shopper and ``drained()`` (asked only then:
    e.g. the worker committed all its input); the seconds it took, or None once nothing
    improved for ``stall_s`` or ``alive()`` turned false (a dead worker will not help).

    ``bar`` (a tqdm bar with ``total`` = shoppers) shows the count.
    """
    started = time.monotonic()
    best, best_at = -1, started
    total = len(answers.users)
    while True:
        try:
            n = done(answers.read())
        except ServiceError:  # Redis away: no progress, keep waiting
            n = best
        if bar is not None and n > bar.n:
            bar.update(n - bar.n)
        now = time.monotonic()
        if n >= total and drained():
            return time.monotonic() - started
        if n > best:
            best, best_at = n, now
        if now - best_at > stall_s or not alive():
            return None
        time.sleep(poll_s)
