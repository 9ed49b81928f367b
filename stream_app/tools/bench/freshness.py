"""Freshness: events published at a steady ``--rate``; for each, the delay from its send to
the first answer in Redis that reflects it.

The producer runs in a thread and notes each event's send time (right after it is handed to
the producer, so the producer's linger counts); the main thread polls the answers of the
shoppers with events in flight (``MGET``, only changed values parsed) and matches them by
``event_ts`` (:class:`~stream_app.tools.bench.answers.DelayMatcher`). The delay ends at the answer's
``updated_at``, stamped by the sink just before its write, so how often the bench polls does
not change it (as long as it sees every answer before the next one replaces it: answers come
once per batch, 50 ms by default, and the poll is every few ms).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis
from redis.exceptions import RedisError

from schemas.errors import ServiceError
from schemas.events import Event
from stream_app.settings import Settings
from stream_app.tools.bench.answers import AnswerPoller, DelayMatcher
from stream_app.tools.bench.measures import summary
from stream_app.tools.replay import Pace, ReplayStats, publish

__all__ = ["paced_phase"]


def paced_phase(
    settings: Settings,
    events: Sequence[Event],
    rate: float,
    client: redis.Redis,
    *,
    problem: Callable[[], str | None],
    stall_timeout_s: float = 60.0,
    poll_s: float = 0.005,
    progress: bool = True,
) -> dict[str, Any]:
    """Publish ``events`` at ``rate``/s and measure each one's send -> answer delay; waits after
    the last send until every event is answered or no answer came for ``stall_timeout_s``."""
    from tqdm import tqdm

    matcher = DelayMatcher()
    done: dict[str, Any] = {}

    def produce() -> None:
        try:
            done["stats"] = publish(
                events,
                settings,
                pace=Pace(rate=rate),
                progress=False,
                on_send=lambda e, wall_s: matcher.sent(e.user_id, e.ts, wall_s * 1000),
            )
        except BaseException as exc:  # handed to the main thread, raised there
            done["error"] = exc

    producer = threading.Thread(target=produce, name="paced-producer", daemon=True)
    poller = AnswerPoller(client, settings.reco_prefix)
    producer.start()
    last_answer = time.monotonic()
    with tqdm(total=len(events), unit="ev", desc="paced", disable=not progress) as bar:
        while producer.is_alive() or matcher.unmatched:
            try:
                seen = poller.poll(matcher.users())
            except (RedisError, OSError) as exc:
                why = f"Redis stopped answering during the paced phase: {exc}"
                raise ServiceError(why) from exc
            answered = sum(matcher.answered(u, s.event_ts, s.updated_at) for u, s in seen)
            now = time.monotonic()
            if answered:
                bar.update(answered)
                last_answer = now
            elif not producer.is_alive() and now - last_answer > stall_timeout_s:
                break
            why = problem()
            if why is not None:
                raise ServiceError(why)
            time.sleep(poll_s)
    producer.join()
    if "error" in done:
        raise done["error"]
    stats: ReplayStats = done["stats"]
    return {
        "events": len(events),
        "rate": rate,
        "sent_per_s": round(stats.rate, 1),
        "send_seconds": round(stats.seconds, 2),
        "answered": len(matcher.delays_ms),
        "answered_per_s": matcher.answered_per_s(),
        "last_send_to_last_answer_s": matcher.tail_s(),
        "unanswered": matcher.unmatched,
        "delay_ms": summary(matcher.delays_ms),
    }
