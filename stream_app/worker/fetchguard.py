"""Faust's aiokafka transport with a guarded fetch: no records are lost around a rebalance.

Faust's fetch loop hands aiokafka its *live* set of active partitions (assigned, not paused)
and keeps changing that set while the fetch waits (up to 1 s); aiokafka's
``Fetcher.fetched_records(partitions)`` takes the records (and moves its position past them)
of the partitions in the set at the moment records arrive. Two races follow, both seen in
``tests/integration/test_pipeline_rebalance.py``:

* **An empty set means "every partition" to aiokafka.** The set is empty during a rebalance
  (everything revoked, the new assignment paused until recovery) and when recovery ends. A
  fetch pending then drains the table's changelog partitions, freshly positioned at offset 0,
  and Faust drops the records (flow stopped / partition not active). If recovery's own seek
  to the start landed before the drain, recovery waits forever for records already skipped
  ("No event received for active tp ...-changelog since recovery start": the test hung
  about 1 run in 14).
* **Input records taken between "resume input partitions" and "resume flow" are discarded.**
  When recovery ends, Faust resumes the input partitions, seeks them to their committed
  offsets, and only then calls ``app.flow_control.resume()``, which clears every stream
  queue. Records delivered in between go into a queue that is then cleared; for those
  delivered after their partition's seek, Faust's read offset has moved past them, so they
  are never delivered again: the event is lost (a cart add of user 242 vanished this way
  when events arrived during the survivor's recovery; the ``stream_recovery_delay``
  experiment, 8f867de, made that likely).

A third, a throughput trap rather than a race: **Faust fixes aiokafka's** ``fetch_max_wait_ms``
**at 1500**, and aiokafka keeps one fetch request in flight per broker, built from the
partitions with nothing buffered. When those are all caught up (the busy partitions still had
records buffered when the request left), the broker holds it for the full 1.5 s while the busy
partitions' buffers run dry: the worker idled ~1 s in every 2 (5,798 events took 10.9 s end to
end, 4.8 s at 100 ms). :class:`Transport` carries ``Settings.fetch_max_wait_ms`` into the
consumer aiokafka builds (its ``_fetch_max_wait_ms``, read when the consumer starts).

The consumer thread also reports every fetch to the app's
:class:`~stream_app.worker.frontier.Frontier`
(high-water mark, poll time and position of each input partition), which is how the worker
knows how far it has read each partition when an idle one carries no records to tell it.

The guard: the consumer thread gives aiokafka an :class:`ActiveView` of the same live set
instead of the set itself. It is never "empty", and while ``app.rebalancing`` (Faust's public
flag: set in the revoke callback, cleared just before "Worker ready", after the queues were
cleared) it admits only changelog partitions. Records of other partitions stay in aiokafka's
buffer with aiokafka's position unchanged; Faust's seek to the committed offsets then
discards them and they are fetched again once the stream runs. ``create_app`` installs
:class:`Transport` with the public ``app.transport`` setter; nothing in site-packages changes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Set
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

from stream_app.worker.frontier import Frontier
from stream_app.worker.intake import Intake, divert

__all__ = ["ActiveView", "Consumer", "ConsumerThread", "Transport", "install", "report_fetch"]


class ActiveView:
    """What aiokafka may fetch: the live active set, never read as "all partitions".

    ``restrict_to``, when given, is asked on *every* membership test for the topic names the
    view is limited to (None: no limit). It is a callable, not a set taken when the fetch
    starts, because aiokafka keeps testing the view while one fetch call waits through a whole
    reassignment: a rebalance that begins during the wait must restrict that very fetch.

    >>> from collections import namedtuple
    >>> TP = namedtuple("TP", "topic partition")
    >>> live = set()
    >>> view = ActiveView(live)
    >>> bool(view), TP("in", 0) in view
    (True, False)
    >>> live |= {TP("in", 0), TP("log", 0)}
    >>> rebalancing = False
    >>> guarded = ActiveView(live, lambda: {"log"} if rebalancing else None)
    >>> TP("in", 0) in view, TP("in", 0) in guarded
    (True, True)
    >>> rebalancing = True  # flips while the same fetch waits
    >>> TP("in", 0) in guarded, TP("log", 0) in guarded, list(guarded)
    (False, True, [TP(topic='log', partition=0)])
    """

    __slots__ = ("_live", "_restrict")

    def __init__(
        self, live: Set[Any], restrict_to: Callable[[], Set[str] | None] | None = None
    ) -> None:
        self._live = live
        self._restrict = restrict_to

    def __bool__(self) -> bool:
        return True

    def __contains__(self, tp: Any) -> bool:
        if self._restrict is not None:
            topics = self._restrict()
            if topics is not None and tp.topic not in topics:
                return False
        return tp in self._live

    def __iter__(self) -> Iterator[Any]:
        return (tp for tp in list(self._live) if tp in self)  # a copy: the set changes

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"ActiveView({self._live!r}, restrict_to={self._restrict!r})"


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's aiokafka consumer thread, fetching through an :class:`ActiveView`."""

    async def _fetch_records(
        self,
        consumer: Any,
        active_partitions: Any,
        timeout: float | None = None,
        max_records: int | None = None,
    ) -> Any:
        view = active_partitions
        if active_partitions is not None:
            view = ActiveView(active_partitions, self._changelogs_while_rebalancing)
        records = await super()._fetch_records(
            consumer, view, timeout=timeout, max_records=max_records
        )
        frontier = getattr(self, "_frontier", None)
        if frontier is not None and view is not None:
            report_fetch(frontier, consumer, view, records, getattr(self, "_intake", None))
        return records

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        self._frontier = getattr(transport, "frontier", None)
        self._intake = getattr(transport, "intake", None)
        wait_ms = getattr(transport, "fetch_max_wait_ms", None)
        if wait_ms is not None:  # Faust passes 1500; aiokafka reads this when it starts
            consumer._fetch_max_wait_ms = int(wait_ms)
        return consumer

    def _changelogs_while_rebalancing(self) -> Set[str] | None:
        """The changelog topics while ``app.rebalancing`` (only they may be fetched), else None.

        Read at every membership test (see :class:`ActiveView`)."""
        app = self.app
        return app.tables.changelog_topics if app.rebalancing else None


def report_fetch(
    frontier: Frontier, consumer: Any, partitions: Any, records: Any, intake: Intake | None = None
) -> None:
    """Tell ``frontier`` (and ``intake``: whether each partition was read to its end) what
    aiokafka knows of each fetched input partition now.

    Reads aiokafka's per-partition fetch state (position, high-water mark, poll time); a
    partition without them yet (never fetched, being reset) is skipped: no evidence."""
    try:
        assignment = consumer._subscription.subscription.assignment
    except AttributeError:  # no assignment (being rebalanced)
        return
    if assignment is None:
        return
    for tp in partitions:
        if not frontier.wants(tp.topic):
            continue
        try:
            state = assignment.state_value(tp)
        except (KeyError, AttributeError):
            continue
        if state is None or not state.has_valid_position:
            continue
        highwater, polled = state.highwater, state.timestamp
        if highwater is None or polled is None or polled < 0:
            continue
        frontier.fetched(
            tp.topic,
            tp.partition,
            int(polled),
            int(highwater),
            int(state.position),
            handed_out=bool(records.get(tp)),
        )
        if intake is not None:
            intake.fetched(tp.topic, tp.partition, state.position >= highwater)


class Consumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer with :class:`ConsumerThread`, and the input topics' record
    sets handed whole to the transport's :class:`~stream_app.worker.intake.Intake` (if any)."""

    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[Any, Any]]:
        """Faust's ``getmany``, except that records of the intake's topics go to the intake
        as one set per fetch instead of one by one to Faust's streams."""
        intake: Intake | None = getattr(self.transport, "intake", None)
        if intake is None:
            async for item in super().getmany(timeout):
                yield item
            return
        records, active = await self._wait_next_records(timeout)
        generation = self.app.consumer_generation_id
        if records is None or self.should_stop:
            return
        if not self.flow_active:  # as Faust: back to the committed offsets
            try:
                await self.perform_seek()
            except Exception as exc:
                self.log.warning("exception performing seek when flow not active %r", exc)
            return
        rest = await divert(self, intake, records, active, generation)
        for tp, record in self.scheduler.iterate(rest):
            if not self.flow_active or self.app.consumer_generation_id != generation:
                break
            if active is None or tp in active or tp in self._buffered_partitions:
                self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                yield tp, self._to_message(tp, record)


class Transport(faust_aiokafka.Transport):
    """Faust's aiokafka transport with :class:`Consumer` (and ``fetch_max_wait_ms``)."""

    Consumer = Consumer
    fetch_max_wait_ms: int | None = None
    """The consumer's ``fetch_max_wait_ms``; None keeps Faust's 1500."""
    frontier: Frontier | None = None
    """Told about every fetch of an input partition (None: nobody listens)."""
    intake: Intake | None = None
    """Takes the input topics' record sets whole (None: Faust's per-record path)."""


def install(
    app: faust.App,
    *,
    fetch_max_wait_ms: int | None = None,
    frontier: Frontier | None = None,
    intake: Intake | None = None,
) -> None:
    """Make ``app`` consume through :class:`Transport` (before anything uses its consumer)."""
    transport = Transport(app.conf.broker_consumer, app)
    transport.fetch_max_wait_ms = fetch_max_wait_ms
    transport.frontier = frontier
    transport.intake = intake
    app.transport = transport
