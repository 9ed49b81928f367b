"""The batch intake: fetched record sets of the input topics handed over whole, with Faust's
read-offset, gap and ack bookkeeping kept exact (stand-ins for Faust's consumer)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from types import SimpleNamespace

from aiokafka.structs import TopicPartition

from stream_app.worker.intake import Intake, divert, run

IN0 = TopicPartition("cart-adds", 0)
IN1 = TopicPartition("searches", 1)
LOG0 = TopicPartition("app-user-state-changelog", 0)


class _Message:
    """A Faust message's fields the intake uses (hashable by identity, as Faust's)."""

    def __init__(self, tp, offset) -> None:
        self.tp, self.offset, self.tracked, self.acked = tp, offset, False, False


class _Consumer:
    """The parts of Faust's consumer the intake reads and writes."""

    def __init__(self) -> None:
        self._read_offset: defaultdict = defaultdict(lambda: None)
        self._buffered_partitions: set = set()
        self._commit_every = None
        self._n_acked = 0
        self.gaps: list[tuple] = []
        self.unacked: set = set()
        self.acked: list[tuple] = []
        self.app = SimpleNamespace(
            monitor=SimpleNamespace(
                track_tp_end_offset=lambda tp, end: None,
                stream_inbound_time={},
                tp_read_offsets={},
            ),
            consumer=self,
            consumer_generation_id=3,
            flow_control=SimpleNamespace(is_active=lambda: True),
        )

    def highwater(self, tp):
        return 100

    def _to_message(self, tp, record):
        return _Message(tp, record.offset)

    async def _add_gap(self, tp, start, end):
        self.gaps.append((tp, start, end))

    def ack(self, message):
        self.unacked.discard(message)
        self.acked.append((message.tp, message.offset))
        return True


def _records(tp, *offsets):
    return [SimpleNamespace(offset=o, timestamp=1_000 + o) for o in offsets]


def _read_to_end(intake: Intake, *partitions: int) -> Intake:
    """Every topic of these partitions reported read to its end (nothing to wait for)."""
    for topic in intake.topics:
        for partition in partitions:
            intake.fetched(topic, partition, True)
    return intake


def test_divert_hands_over_input_records_and_returns_the_rest() -> None:
    consumer = _Consumer()
    consumer._read_offset[IN0] = 5
    intake = _read_to_end(Intake({IN0.topic, IN1.topic}), 0, 1)
    records = {
        IN0: _records(IN0, 4, 5, 6, 9),  # 4: already read; 7-8: a gap
        IN1: _records(IN1, 0, 1),
        LOG0: _records(LOG0, 0),
    }

    async def go():
        rest = await divert(consumer, intake, records, {IN0, IN1, LOG0}, 3)
        return rest, intake.queue.get_nowait()

    rest, batch = asyncio.run(go())
    assert list(rest) == [LOG0]
    assert [(m.tp, m.offset) for m in batch.messages] == [
        (IN0, 5),
        (IN0, 6),
        (IN0, 9),
        (IN1, 0),
        (IN1, 1),
    ]
    assert batch.generation == 3
    assert consumer.gaps == [(IN0, 7, 9)]
    assert (consumer._read_offset[IN0], consumer._read_offset[IN1]) == (9, 1)


def test_divert_skips_partitions_no_longer_active() -> None:
    consumer = _Consumer()
    intake = _read_to_end(Intake({IN0.topic, IN1.topic}), 0, 1)
    records = {IN0: _records(IN0, 0), IN1: _records(IN1, 0)}

    async def go():
        await divert(consumer, intake, records, {IN1}, 3)
        return intake.queue.get_nowait()

    batch = asyncio.run(go())
    assert [m.tp for m in batch.messages] == [IN1]


def test_batches_are_tracked_then_acked_and_stale_ones_dropped() -> None:
    consumer = _Consumer()
    intake = _read_to_end(Intake({IN0.topic}), 0)
    intake.app = consumer.app
    seen: list[list[int]] = []
    pending_while_handled: list[int] = []

    async def handle(messages):
        seen.append([m.offset for m in messages])
        pending_while_handled.append(len(consumer.unacked))
        if len(seen) == 2:
            raise LookupError("stop")  # ends the loop after the second set

    async def go():
        await divert(consumer, intake, {IN0: _records(IN0, 0, 1)}, None, 2)  # older generation
        await divert(consumer, intake, {IN0: _records(IN0, 2, 3)}, None, 3)
        task = asyncio.ensure_future(run(intake, handle))
        await asyncio.sleep(0)
        consumer.app.flow_control = SimpleNamespace(is_active=lambda: False)
        await intake.offer(3, [_Message(IN0, 4)])
        await asyncio.sleep(0)
        consumer.app.flow_control = SimpleNamespace(is_active=lambda: True)
        await divert(consumer, intake, {IN0: _records(IN0, 5)}, None, 3)
        with contextlib.suppress(LookupError):
            await task

    asyncio.run(go())
    assert seen == [[2, 3], [5]]  # generation 2 and the set taken while flow stopped: dropped
    assert pending_while_handled == [2, 1]  # tracked while handled (revocation waits on them)
    assert consumer.acked == [(IN0, 2), (IN0, 3)]  # the failed set is not acked
    assert (intake.stats["stale_sets"], intake.stats["stale_records"]) == (2, 3)
    assert intake.counters() == {
        "intake_record_sets": 2,
        "intake_records": 3,
        "intake_stale_sets": 2,
        "intake_stale_records": 3,
        "intake_merge_forced": 0,
    }


def test_clear_drops_sets_not_yet_taken() -> None:
    consumer = _Consumer()
    intake = _read_to_end(Intake({IN0.topic}, maxsize=3), 0)

    async def go():
        await divert(consumer, intake, {IN0: _records(IN0, 0)}, None, 3)
        await divert(consumer, intake, {IN0: _records(IN0, 1)}, None, 3)
        return intake.clear(), intake.queue.qsize()

    assert asyncio.run(go()) == (2, 0)


def test_divert_hands_over_co_partitioned_records_in_append_time_order() -> None:
    consumer = _Consumer()
    adds, searches = TopicPartition("cart-adds", 2), TopicPartition("searches", 2)
    intake = Intake({adds.topic, searches.topic})
    stamped = lambda o, ts: SimpleNamespace(offset=o, timestamp=ts)  # noqa: E731

    async def go():
        intake.fetched(adds.topic, 2, True)
        intake.fetched(searches.topic, 2, False)  # more searches on the broker
        await divert(consumer, intake, {adds: [stamped(0, 10), stamped(1, 30)]}, None, 3)
        first = intake.queue.qsize()  # nothing known to come first: held
        intake.fetched(searches.topic, 2, False)
        await divert(consumer, intake, {searches: [stamped(0, 5), stamped(1, 20)]}, None, 3)
        batch = intake.queue.get_nowait()
        intake.fetched(searches.topic, 2, True)
        await divert(consumer, intake, {}, None, 3)
        return first, batch, intake.queue.get_nowait()

    first, batch, last = asyncio.run(go())
    assert first == 0
    assert [(m.tp.topic, m.offset) for m in batch.messages] == [
        ("searches", 0),
        ("cart-adds", 0),
        ("searches", 1),
    ]  # the add at 30 waits while searches[2] may still hold records before it
    assert [(m.tp.topic, m.offset) for m in last.messages] == [("cart-adds", 1)]


def test_records_held_across_a_rebalance_are_dropped() -> None:
    consumer = _Consumer()
    intake = Intake({IN0.topic, IN1.topic})  # searches[0] unknown: cart-adds[0] is held

    async def go():
        await divert(consumer, intake, {IN0: _records(IN0, 0, 1)}, None, 3)
        held = len(intake.merge)
        _read_to_end(intake, 0)
        await divert(consumer, intake, {}, None, 4)  # a new consumer generation
        return held, intake.queue.qsize()

    assert asyncio.run(go()) == (2, 0)
