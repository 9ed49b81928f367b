"""Whole fetched record sets to one batch handler, without a Faust stream event per record.

A Faust stream costs about 100 µs per record on this kind of machine (a ``Message``, the
conductor's callback with ``wait_first``, a channel queue, an ``Event``, the stream's
processors and ``take_events`` buffer): a worker taking every record through a stream cannot
pass about 9,000 records/s whatever its own work costs. Our worker folds a batch at a time, so
it needs none of that: the consumer (:class:`stream_app.fetchguard.Consumer`) puts each fetched
record set of the input topics into an :class:`Intake`, whole, and one task takes them from it.

What Faust is kept for, and how each stays exact:

* **Acks and committed offsets**: every record becomes a Faust ``Message``; a batch's messages
  are tracked in ``consumer.unacked`` (as a stream tracks its events) when the handler takes
  the batch, and acked through ``consumer.ack`` after the handler is done, so Faust's own
  commit loop commits exactly the offsets whose records were applied. The read offsets and gap
  bookkeeping of Faust's fetch loop (``Consumer._drain_messages``) are done here too.
* **Rebalances**: a batch taken while flow is stopped or from an older consumer generation is
  dropped unread, as Faust's streams drop their queued events (Faust seeks back to the
  committed offsets on the new assignment). A batch being handled is tracked, so Faust's
  revocation waits for it (``consumer.wait_empty``) before it commits and moves on.
* **Backpressure**: the queue holds ``maxsize`` record sets; the fetch loop waits while it is
  full, exactly as it waits on a full stream buffer.
* **Adaptive batching**: a record set is what the broker had when the consumer asked. Under a
  backlog it is large (up to ``broker_max_poll_records``); on a quiet stream it is the one
  record that just arrived, handled at once: no batch window to wait out.

Everything else (the app, group membership, the tables and their changelogs, recovery,
timers, the web server) is Faust's, untouched. Records of other topics (the changelog during
recovery) still go through Faust's per-record path.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Batch", "Intake"]


@dataclass(frozen=True, slots=True)
class Batch:
    """One fetched record set of the input topics, as Faust messages, and its generation."""

    generation: int
    messages: list[Any]
    fetched: float
    """``time.monotonic()`` when the consumer handed it over (queueing shows as its age)."""


class Intake:
    """The hand-over point between Faust's fetch loop and the worker's batch handler.

    The consumer calls :meth:`offer` from its fetch loop; the handler's task iterates
    :meth:`batches` and calls :meth:`done` after each. ``app`` is the Faust app (its consumer,
    flow control and consumer generation are read when a batch is taken).
    """

    def __init__(self, topics: Iterable[str], *, maxsize: int = 2) -> None:
        self.topics = frozenset(topics)
        self.maxsize = maxsize
        self._queue: asyncio.Queue[Batch] | None = None
        self.app: Any = None
        self.stats: dict[str, int] = dict.fromkeys(
            ("record_sets", "records", "stale_sets", "stale_records"), 0
        )

    def wants(self, topic: str) -> bool:
        """Whether records of ``topic`` go to this intake (else Faust's per-record path)."""
        return topic in self.topics

    @property
    def queue(self) -> asyncio.Queue[Batch]:
        """The queue, made on first use (on the event loop that uses it)."""
        if self._queue is None:
            self._queue = asyncio.Queue(self.maxsize)
        return self._queue

    async def offer(self, generation: int, messages: list[Any]) -> None:
        """Hand one fetched record set over; waits while the handler is ``maxsize`` behind."""
        if messages:
            await self.queue.put(Batch(generation, messages, time.monotonic()))

    async def batches(self) -> AsyncIterator[list[Any]]:
        """The record sets to handle, in fetch order, each tracked as pending acks.

        Sets fetched before the current consumer generation, or taken while Faust's flow is
        stopped (a rebalance), are dropped: Faust seeks back to the committed offsets, so
        their records are fetched again by whoever owns the partitions then.
        """
        while True:
            batch = await self.queue.get()
            if not self._current(batch):
                self.stats["stale_sets"] += 1
                self.stats["stale_records"] += len(batch.messages)
                continue
            track(self.app.consumer, batch.messages)
            self.stats["record_sets"] += 1
            self.stats["records"] += len(batch.messages)
            yield batch.messages

    def done(self, messages: Sequence[Any]) -> None:
        """Ack a handled record set: Faust's commit loop may now commit past it."""
        consumer = self.app.consumer
        ack = consumer.ack
        for message in messages:
            ack(message)
        note_inbound(self.app, messages)

    def clear(self) -> int:
        """Drop every record set not yet taken (their records are fetched again); how many."""
        dropped = 0
        queue = self.queue
        while not queue.empty():
            dropped += 1
            queue.get_nowait()
        return dropped

    def _current(self, batch: Batch) -> bool:
        app = self.app
        return app.flow_control.is_active() and batch.generation == app.consumer_generation_id


def track(consumer: Any, messages: Iterable[Any]) -> None:
    """Mark messages as taken for processing: Faust's revocation waits until they are acked."""
    add = consumer.unacked.add
    for message in messages:
        message.tracked = True
        add(message)


def note_inbound(app: Any, messages: Sequence[Any]) -> None:
    """Tell Faust's monitor the partitions' streams moved (its stall warnings read this)."""
    monitor = getattr(app, "monitor", None)
    if monitor is None or not messages:
        return
    now = time.monotonic()
    last: dict[Any, Any] = {}
    for message in messages:
        last[message.tp] = message
    for tp, message in last.items():
        monitor.stream_inbound_time[tp] = now
        monitor.tp_read_offsets[tp] = message.offset


async def divert(
    consumer: Any,
    intake: Intake,
    records: Mapping[Any, list],
    active: Any,
    generation: int,
) -> dict[Any, list]:
    """Hand ``records`` of the intake's topics to it; the rest, for Faust's per-record path.

    Mirrors Faust's fetch loop for the diverted records: only partitions still active (or
    buffered), records at or past the read offset, gaps in offsets noted (so commits can pass
    them), the read offset moved, and the ``broker_commit_every`` commit.
    """
    rest: dict[Any, list] = {}
    messages: list[Any] = []
    to_message = consumer._to_message
    read_offset = consumer._read_offset
    buffered = consumer._buffered_partitions
    monitor = consumer.app.monitor
    for tp, recs in records.items():
        if not intake.wants(tp.topic):
            rest[tp] = recs
            continue
        if not recs or not (active is None or tp in active or tp in buffered):
            continue
        monitor.track_tp_end_offset(tp, consumer.highwater(tp))
        r_offset = read_offset[tp]
        for record in recs:
            offset = record.offset
            if r_offset is not None and offset < r_offset:
                continue  # already read (Faust's "DROPPED MESSAGE ROFF")
            if r_offset and offset - r_offset > 1:
                await consumer._add_gap(tp, r_offset + 1, offset)
            messages.append(to_message(tp, record))
            r_offset = offset
        read_offset[tp] = r_offset
    if messages:
        commit_every = consumer._commit_every
        if commit_every is not None and consumer._n_acked >= commit_every:
            consumer._n_acked = 0
            await consumer.commit()
        await intake.offer(generation, messages)
    return rest


async def run(
    intake: Intake,
    handle: Callable[[list[Any]], Awaitable[None]],
) -> None:
    """The handler's loop: each record set through ``handle``, then acked."""
    async for messages in intake.batches():
        await handle(messages)
        intake.done(messages)
