"""Whole fetched record sets to one batch handler, without a Faust stream event per record.

A Faust stream costs about 100 µs per record on this kind of machine (a ``Message``, the
conductor's callback with ``wait_first``, a channel queue, an ``Event``, the stream's
processors and ``take_events`` buffer): a worker taking every record through a stream cannot
pass about 9,000 records/s whatever its own work costs. Our worker folds a batch at a time, so
it needs none of that: the consumer (:class:`stream_app.worker.fetchguard.Consumer`) puts each
fetched
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
  backlog it is large (up to ``max_set``, the worker's ``batch_max``); on a quiet stream it is
  the one record that just arrived, handled at once: no batch window to wait out.
* **Append-time order across the co-partitioned topics** (:class:`TimeMerge`): aiokafka
  hands out its buffer partition by partition, so a raw record set is one topic's run of
  records; the merge releases a partition group's records in append-time order once every
  topic of the group has been read that far (as Kafka Streams merges a task's partitions), so
  a shopper's events reach the reorder buffer nearly in order even through a backlog.

Everything else (the app, group membership, the tables and their changelogs, recovery,
timers, the web server) is Faust's, untouched. Records of other topics (the changelog during
recovery) still go through Faust's per-record path.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Batch", "Intake", "TimeMerge", "divert", "run"]


@dataclass(frozen=True, slots=True)
class Batch:
    """One fetched record set of the input topics, as Faust messages, and its generation."""

    generation: int
    messages: list[Any]


class Intake:
    """The hand-over point between Faust's fetch loop and the worker's batch handler.

    The consumer calls :meth:`offer` from its fetch loop; the handler's task iterates
    :meth:`batches` and calls :meth:`done` after each. ``app`` is the Faust app (its consumer,
    flow control and consumer generation are read when a batch is taken).
    """

    def __init__(self, topics: Iterable[str], *, maxsize: int = 2, max_set: int = 2000) -> None:
        self.topics = frozenset(topics)
        self.maxsize = maxsize
        self.max_set = max_set
        """At most this many records per set handed over (the worker's ``batch_max``)."""
        self._queue: asyncio.Queue[Batch] | None = None
        self.app: Any = None
        self.merge = TimeMerge(sorted(self.topics))
        self.generation: int | None = None
        """The consumer generation the records held in :attr:`merge` were read in."""
        self._ends: dict[tuple[str, int], bool] = {}
        self.stats: dict[str, int] = dict.fromkeys(
            ("record_sets", "records", "stale_sets", "stale_records"), 0
        )

    def fetched(self, topic: str, partition: int, at_end: bool) -> None:
        """The consumer thread's latest fetch of ``(topic, partition)``: whether it left
        nothing on the broker (position at the high-water mark)."""
        self._ends[(topic, partition)] = at_end

    def take_ends(self) -> dict[tuple[str, int], bool]:
        """The fetch reports since the last call (read by the fetch loop)."""
        ends, self._ends = self._ends, {}
        return ends

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
            await self.queue.put(Batch(generation, messages))

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

    def counters(self) -> dict[str, int]:
        """For the stats page: record sets and records handed over, those dropped as stale
        (a rebalance), and records the time merge let go past its order (``max_held``)."""
        return {
            **{f"intake_{k}": v for k, v in self.stats.items()},
            "intake_merge_forced": self.merge.forced,
        }

    def done(self, messages: Sequence[Any]) -> None:
        """Ack a handled record set: Faust's commit loop may now commit past it."""
        consumer = self.app.consumer
        ack = consumer.ack
        for message in messages:
            ack(message)
        note_inbound(self.app, messages)

    def clear(self) -> int:
        """Drop every record set not yet taken, and every record held for the merge (their
        records are fetched again); how many sets."""
        self.merge.clear()
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


class TimeMerge:
    """Records of co-partitioned topics released in append-time order, as Kafka Streams merges
    a task's partitions: per partition group (the same partition number of every topic), a
    record is handed out once every topic of the group either has a later record waiting here
    or has been read to its end (the last fetch found nothing more on the broker).

    Without it a fetched record set is a run of one partition of one topic (aiokafka drains
    its buffer partition by partition), so a shopper's cart adds reach the worker seconds of
    append time ahead of the searches and checkouts between them: nearly every event of a
    backlog was late for the reorder buffer, each a re-fold of the shopper's held events.
    Only an optimisation: the reorder buffer keeps the state exact in any order, so the merge
    may give up (``max_held`` records waiting in a group: the oldest go anyway) and producer
    timestamps (``CreateTime``, not monotonic in a partition) only make it less effective.

    >>> m = TimeMerge(["adds", "checkouts"])
    >>> m.add("adds", 0, 100, "a1"); m.add("adds", 0, 300, "a2")
    >>> m.release()                 # checkouts[0] not read yet: nothing is known to be first
    []
    >>> m.add("checkouts", 0, 200, "c1")
    >>> m.release()                 # a2 waits: checkouts[0] may still have records before 300
    ['a1', 'c1']
    >>> m.read_to_end("checkouts", 0, True)
    >>> m.release()
    ['a2']
    """

    def __init__(self, topics: Iterable[str], max_held: int = 20_000) -> None:
        self.topics = tuple(topics)
        self.max_held = max_held
        self._held: dict[int, dict[str, deque[tuple[int, Any]]]] = {}
        self._last: dict[tuple[str, int], int] = {}
        self._at_end: dict[tuple[str, int], bool] = {}
        self.forced = 0
        """Records released past the merge because a group held ``max_held``."""

    def __len__(self) -> int:
        return sum(len(q) for group in self._held.values() for q in group.values())

    def add(self, topic: str, partition: int, ts: int, record: Any) -> None:
        """A record read from ``(topic, partition)``, appended at ``ts`` (ms)."""
        group = self._held.get(partition)
        if group is None:
            group = self._held[partition] = {t: deque() for t in self.topics}
        group[topic].append((ts, record))
        self._last[(topic, partition)] = ts

    def read_to_end(self, topic: str, partition: int, at_end: bool) -> None:
        """Whether the latest fetch of ``(topic, partition)`` left nothing on the broker."""
        self._at_end[(topic, partition)] = at_end

    def release(self) -> list[Any]:
        """Every record that can go now, each group merged by append time (ties: topic order)."""
        out: list[Any] = []
        for partition, group in self._held.items():
            bound: float = float("inf")
            for topic, queue in group.items():
                if not queue and not self._at_end.get((topic, partition), False):
                    bound = min(bound, self._last.get((topic, partition), -1))
            held = sum(map(len, group.values()))
            over = held - self.max_held
            queues = [(t, q) for t, q in group.items() if q]
            while queues:
                topic, head = min(queues, key=lambda tq: tq[1][0][0])
                if head[0][0] > bound:
                    if over <= 0:
                        break
                    self.forced += 1
                out.append(head.popleft()[1])
                over -= 1
                if not head:  # emptied: its next record may come before the others' heads
                    queues.remove((topic, head))
                    if not self._at_end.get((topic, partition), False):
                        bound = min(bound, self._last[(topic, partition)])
        return out

    def clear(self) -> int:
        """Drop every record held (a rebalance: they are fetched again); how many."""
        n = len(self)
        self._held.clear()
        self._last.clear()
        self._at_end.clear()
        return n


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
    them), the read offset moved, and the ``broker_commit_every`` commit. The records go
    through the intake's :class:`TimeMerge` first: what it releases is the record set offered.
    """
    rest: dict[Any, list] = {}
    merge = intake.merge
    if generation != intake.generation:  # records read before a rebalance are not ours now
        merge.clear()
        intake.generation = generation
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
            merge.add(tp.topic, tp.partition, record.timestamp, to_message(tp, record))
            r_offset = offset
        read_offset[tp] = r_offset
    for (topic, partition), at_end in intake.take_ends().items():
        merge.read_to_end(topic, partition, at_end)
    messages = merge.release()
    if messages:
        commit_every = consumer._commit_every
        if commit_every is not None and consumer._n_acked >= commit_every:
            consumer._n_acked = 0
            await consumer.commit()
        size = intake.max_set
        for start in range(0, len(messages), size):  # several fetches' records may be ready
            await intake.offer(generation, messages[start : start + size])
    return rest


async def run(
    intake: Intake,
    handle: Callable[[list[Any]], Awaitable[None]],
) -> None:
    """The handler's loop: each record set through ``handle``, then acked."""
    async for messages in intake.batches():
        await handle(messages)
        intake.done(messages)
