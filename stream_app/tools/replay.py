"""Replaying event logs into Kafka and recording the topics back into a log (kafka-python).

Publishing contract (what the worker relies on): each event goes to the topic of its type,
keyed by ``str(user_id)`` (Kafka's default murmur2 partitioner then co-partitions the three
topics by user), with the Kafka timestamp set to the event's ``ts`` (capped at the wall clock:
see :func:`record_timestamp`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from loaders.eventlog import read_event_log, write_event_log
from loaders.instacart import orders_to_events
from schemas.errors import InvalidData, InvalidEvent, ServiceError
from schemas.events import Event, Search, decode, encode
from schemas.keys import user_key
from stream_app.clock import wall_ms
from stream_app.settings import Settings

__all__ = [
    "CONNECT_TIMEOUT_S",
    "LogReader",
    "Pace",
    "ReplayStats",
    "kafka_unreachable",
    "publish",
    "recent_events",
    "record",
    "record_timestamp",
]


def _order_of(event: Event) -> int | None:
    if isinstance(event, Search):  # synthetic searches are named "o{order_id}-s{pos}"
        head = event.event_id.split("-", 1)[0]
        return int(head[1:]) if head[:1] == "o" and head[1:].isdigit() else None
    return event.order_id


def recent_events(
    orders: Sequence, recent: Sequence, catalog, *, search_rate: float = 0.0, seed: int = 0
) -> list[Event]:
    """The events of the ``recent`` orders, timed as a continuation of the users' histories.

    ``orders_to_events(recent)`` alone would restart each user's clock; converting the whole
    history and keeping the recent orders' events gives times after the batch history.
    """
    wanted = {o.order_id for o in recent}
    events = orders_to_events(orders, catalog, search_rate=search_rate, seed=seed)
    return [e for e in events if _order_of(e) in wanted]


class LogReader:
    """Events of a JSON-lines log; a bad line is :class:`InvalidData` naming ``file:line``,
    or (``skip_bad``) counted in ``bad`` by reason and skipped."""

    def __init__(self, path: Path, *, skip_bad: bool = False) -> None:
        self.path = Path(path)
        self.skip_bad = skip_bad
        self.bad: Counter[str] = Counter()
        self.first_bad: str | None = None

    def __iter__(self) -> Iterator[Event]:
        on_bad = self._count if self.skip_bad else None
        try:
            yield from read_event_log(self.path, on_bad=on_bad)
        except InvalidData as exc:
            if self.skip_bad or not isinstance(exc.__cause__, InvalidEvent):
                raise
            raise InvalidData(f"{exc} (use --skip-bad to skip bad lines)") from exc.__cause__

    def _count(self, where: str, exc: InvalidEvent) -> None:
        self.bad[exc.reason] += 1
        self.first_bad = self.first_bad or where


@dataclass(frozen=True)
class Pace:
    """How fast to publish: ``speed`` × event time, ``rate`` events/s, or as fast as possible."""

    speed: float | None = None
    rate: float | None = None

    def delay_s(self, index: int, ts: int, first_ts: int, started: float) -> float:
        """Seconds to wait before publishing event number ``index`` (0-based)."""
        if self.speed:
            due = (ts - first_ts) / 1000.0 / self.speed
        elif self.rate:
            due = index / self.rate
        else:
            return 0.0
        return due - (time.monotonic() - started)


@dataclass
class ReplayStats:
    """What a replay did."""

    events: int = 0
    seconds: float = 0.0
    first_send_wall_ms: int = 0
    by_topic: Counter[str] = field(default_factory=Counter)
    last_ts_by_user: dict[int, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Events per second."""
        return self.events / self.seconds if self.seconds > 0 else 0.0


CONNECT_TIMEOUT_S = 30.0
"""How long a replay waits for the first answer of the Kafka bootstrap servers."""


def kafka_unreachable(bootstrap: str, waited_s: float, cause: BaseException) -> str:
    """The one-line message for a Kafka that does not answer, with what to do about it.

    >>> print(kafka_unreachable("localhost:1", 2, TimeoutError("Unable to\\nbootstrap")))
    ... # doctest: +NORMALIZE_WHITESPACE
    Kafka does not answer at localhost:1 after 2 s (TimeoutError: Unable to bootstrap); start the
    services with `.venv/bin/stream-app services up` or check STREAM_APP_KAFKA_BOOTSTRAP
    """
    name, text = type(cause).__name__, " ".join(str(cause).split())
    why = text if text.startswith(name) else f"{name}: {text}"  # kafka's errors name themselves
    return (
        f"Kafka does not answer at {bootstrap} after {waited_s:g} s ({why}); start the services "
        "with `.venv/bin/stream-app services up` or check STREAM_APP_KAFKA_BOOTSTRAP"
    )


def _producer(bootstrap: str, connect_timeout_s: float = CONNECT_TIMEOUT_S):  # -> KafkaProducer
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    timeouts = {}
    if "bootstrap_timeout_ms" in KafkaProducer.DEFAULT_CONFIG:  # kafka-python >= 3
        timeouts["bootstrap_timeout_ms"] = int(connect_timeout_s * 1000)
    try:
        return KafkaProducer(
            bootstrap_servers=bootstrap.split(","),
            client_id="stream-app-replay",
            acks=1,
            linger_ms=5,
            batch_size=64 * 1024,
            **timeouts,
        )
    except KafkaError as exc:
        raise ServiceError(kafka_unreachable(bootstrap, connect_timeout_s, exc)) from exc


def record_timestamp(event_ts: int, now_ms: int) -> int:
    """The Kafka record time of an event: its ``ts``, but never after the wall clock.

    Brokers refuse record times more than ``log.message.timestamp.after.max.ms`` ahead (one hour
    by default since Kafka 4.0), which would fail a replay halfway through a log with future
    events. The event's own ``ts`` in the payload is unchanged; only the record time (which the
    worker uses to merge partitions, in publish order anyway) is capped.

    >>> record_timestamp(1_500_000_000_000, 1_800_000_000_000)
    1500000000000
    >>> record_timestamp(4_000_000_000_000, 1_800_000_000_000)
    1800000000000
    """
    return min(event_ts, now_ms)


def publish(
    events: Iterable[Event],
    settings: Settings,
    *,
    pace: Pace = Pace(),
    total: int | None = None,
    progress: bool = True,
    on_send: Callable[[Event, float], None] | None = None,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
) -> ReplayStats:
    """Publish events in the given order; returns once Kafka acknowledged all of them.

    ``on_send(event, wall_s)`` is called right after each event is handed to the producer.
    Raises :class:`ServiceError` if Kafka refused any event (after the others were flushed),
    naming how many and the first error: a replay never loses events silently; and
    :class:`ServiceError` naming the address if Kafka does not answer within
    ``connect_timeout_s``.
    """
    from kafka.errors import KafkaError
    from tqdm import tqdm

    producer = _producer(settings.kafka_bootstrap, connect_timeout_s)
    try:  # fetch topic metadata now, not on the first send of each topic (timed below)
        for name in settings.input_topics():
            producer.partitions_for(name)
    except KafkaError as exc:
        producer.close()
        raise ServiceError(f"Kafka topic metadata unavailable: {exc}") from exc
    stats = ReplayStats()
    refused: list[tuple[Event, BaseException]] = []
    failure: KafkaError | None = None
    bar = tqdm(total=total, unit="ev", disable=not progress, desc="replay")
    started = time.monotonic()
    first_ts: int | None = None
    try:
        for index, event in enumerate(events):
            if first_ts is None:
                first_ts = event.ts
                stats.first_send_wall_ms = int(time.time() * 1000)
            wait = pace.delay_s(index, event.ts, first_ts, started)
            if wait > 0:
                time.sleep(wait)
            topic = settings.topic_for(event.type)
            future = producer.send(
                topic,
                key=user_key(event.user_id),
                value=encode(event),
                timestamp_ms=record_timestamp(event.ts, wall_ms()),
            )
            future.add_errback(lambda exc, e=event: refused.append((e, exc)))
            if on_send is not None:
                on_send(event, time.time())
            stats.events += 1
            stats.by_topic[topic] += 1
            previous = stats.last_ts_by_user.get(event.user_id, 0)
            stats.last_ts_by_user[event.user_id] = max(previous, event.ts)
            bar.update(1)
        producer.flush()
    except KafkaError as exc:
        failure = exc
    finally:
        bar.close()
        producer.close()  # waits for in-flight sends: every refused event has been counted
    stats.seconds = time.monotonic() - started
    if refused:
        event, exc = refused[0]
        raise ServiceError(
            f"Kafka refused {len(refused)} of {stats.events} events; the first: "
            f"{event.type} {event.event_id} of user {event.user_id}: {exc!r}"
        ) from failure
    if failure is not None:
        raise ServiceError(f"publishing to Kafka failed: {failure}") from failure
    return stats


def record(
    settings: Settings, out: Path, *, timeout_s: float = 5.0, topics: Sequence[str] | None = None
) -> tuple[int, Counter[str]]:
    """Dump the input topics (from the beginning) to a JSON-lines log ordered by ``ts``.

    Stops after ``timeout_s`` without a new message. Returns (events written, skipped
    values by reason).
    """
    from kafka import KafkaConsumer
    from kafka.errors import KafkaError

    names = list(topics) if topics else settings.input_topics()
    events: list[tuple[int, int, int, Event]] = []
    skipped: Counter[str] = Counter()
    try:
        consumer = KafkaConsumer(
            *names,
            bootstrap_servers=settings.kafka_bootstrap.split(","),
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            consumer_timeout_ms=int(timeout_s * 1000),
        )
    except KafkaError as exc:
        raise ServiceError(f"Kafka does not answer at {settings.kafka_bootstrap}: {exc}") from exc
    try:
        for n, message in enumerate(consumer):
            try:
                event = decode(message.value or b"", None, settings.max_event_bytes)
            except InvalidEvent as exc:
                skipped[exc.reason] += 1
                continue
            events.append((event.ts, event.user_id, n, event))
    finally:
        consumer.close()
    events.sort(key=lambda t: t[:3])
    return write_event_log(out, (t[3] for t in events)), skipped
