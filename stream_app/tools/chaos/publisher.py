"""Producing a chaos scenario's input: raw messages (good and bad), or a paced replay that can
be held while the broker is down, as an upstream producer with a buffer would hold it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from schemas.errors import ServiceError, StreamAppError
from schemas.events import Event
from stream_app.clock import wall_ms
from stream_app.settings import Settings
from stream_app.tools.chaos.fuzz import Raw
from stream_app.tools.replay import Pace, publish, record_timestamp

__all__ = ["PacedPublisher", "produce_raw"]


def produce_raw(
    records: Sequence[Raw], settings: Settings, *, progress: bool = True
) -> list[tuple[str, int, int]]:
    """Produce ``records`` in order; the ``(topic, partition, offset)`` Kafka gave each one.

    Raises :class:`ServiceError` if Kafka refused any (a fuzz run must know where every
    message went).
    """
    from kafka import KafkaProducer
    from kafka.errors import KafkaError
    from tqdm import tqdm

    try:
        producer = KafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap.split(","),
            client_id="stream-app-chaos",
            acks=1,
            linger_ms=5,
            max_request_size=2 * 1024 * 1024,  # the ~1 MB fuzz payloads; the broker caps at ~1 MB
        )
    except KafkaError as exc:
        raise ServiceError(f"Kafka does not answer at {settings.kafka_bootstrap}: {exc}") from exc
    futures = []
    try:
        now = wall_ms()
        for r in tqdm(records, desc="produce", unit="msg", disable=not progress, leave=False):
            futures.append(
                producer.send(
                    r.topic, key=r.key, value=r.value, timestamp_ms=record_timestamp(r.ts, now)
                )
            )
        producer.flush()
        out = []
        for f in futures:
            meta = f.get(timeout=30)
            out.append((meta.topic, meta.partition, meta.offset))
        return out
    except KafkaError as exc:
        raise ServiceError(f"Kafka refused a chaos message: {exc!r}") from exc
    finally:
        producer.close()


class PacedPublisher(threading.Thread):
    """Publish ``events`` at ``rate`` events/s in a background thread, in small chunks.

    :meth:`pause` returns once no chunk is in flight (every event handed over so far is
    acknowledged), so the broker can then be killed without the producer losing anything;
    after :meth:`resume` the events that fell due meanwhile go out at once, then the pace
    goes on. ``sent`` counts acknowledged events; ``error`` holds what stopped the thread.
    """

    def __init__(
        self, events: Sequence[Event], settings: Settings, rate: float, chunk_s: float = 0.5
    ) -> None:
        super().__init__(name="chaos-publisher", daemon=True)
        self.events = list(events)
        self.settings = settings
        self.rate = rate
        self.chunk_s = chunk_s
        self.sent = 0
        self.error: StreamAppError | None = None
        self._go = threading.Event()
        self._go.set()
        self._held = threading.Event()
        self._start = 0.0

    def due(self, at: float | None = None) -> int:
        """How many events the pace has made due by monotonic time ``at`` (default: now)."""
        elapsed = (time.monotonic() if at is None else at) - self._start
        return min(len(self.events), int(elapsed * self.rate) + 1)

    def run(self) -> None:
        """The publishing loop (the thread's body)."""
        self._start = time.monotonic()
        while self.sent < len(self.events):
            if not self._go.is_set():
                self._held.set()
                self._go.wait()
                self._held.clear()
            upto = self.due()
            if upto > self.sent:
                try:
                    publish(
                        self.events[self.sent : upto], self.settings, pace=Pace(), progress=False
                    )
                except StreamAppError as exc:
                    self.error = exc
                    self._held.set()
                    return
                self.sent = upto
            time.sleep(self.chunk_s)
        self._held.set()

    def pause(self, timeout_s: float = 60.0) -> None:
        """Hold further events; returns once nothing is in flight."""
        self._go.clear()
        if not self._held.wait(timeout_s):
            raise ServiceError(f"chaos: the publisher did not pause within {timeout_s:.0f} s")

    def resume(self) -> None:
        """Publish again (first everything that fell due while held)."""
        self._go.set()
