"""The guarded fetch: what aiokafka is allowed to drain while Faust's active set changes."""

from __future__ import annotations

import asyncio
import contextlib
from types import SimpleNamespace

import faust
from aiokafka.structs import TopicPartition

from stream_app.worker import fetchguard

IN0 = TopicPartition("events", 0)
LOG0 = TopicPartition("app-user-state-changelog", 0)


class _Fetcher:
    """Stands in for aiokafka's Fetcher: drains what ``partitions`` admits, like the real one
    (``if partitions and tp not in partitions: skip``)."""

    _closed = False

    def __init__(self, buffered: list[TopicPartition]) -> None:
        self.buffered = buffered
        self._subscriptions = SimpleNamespace(fetch_context=contextlib.nullcontext)

    async def fetched_records(self, partitions, timeout=0, max_records=None):
        return {tp: ["record"] for tp in self.buffered if not partitions or tp in partitions}


def _drain(active: set, *, rebalancing: bool) -> set:
    thread = object.__new__(fetchguard.ConsumerThread)  # no service machinery needed
    thread.app = SimpleNamespace(
        rebalancing=rebalancing, tables=SimpleNamespace(changelog_topics={LOG0.topic})
    )
    thread.consumer = SimpleNamespace(flow_active=True)
    consumer = SimpleNamespace(_closed=False, _fetcher=_Fetcher([IN0, LOG0]))
    return set(asyncio.run(thread._fetch_records(consumer, active, timeout=0)))


def test_an_empty_active_set_drains_nothing_not_everything() -> None:
    assert _drain(set(), rebalancing=True) == set()
    assert _drain(set(), rebalancing=False) == set()


def test_while_rebalancing_only_changelog_partitions_are_drained() -> None:
    assert _drain({IN0, LOG0}, rebalancing=True) == {LOG0}
    assert _drain({IN0, LOG0}, rebalancing=False) == {IN0, LOG0}


def test_install_makes_the_app_consume_through_the_guarded_thread() -> None:
    app = faust.App("fetchguard-test", broker="kafka://localhost:1", autodiscover=False)
    fetchguard.install(app)
    assert isinstance(app.consumer._thread, fetchguard.ConsumerThread)


class _RebalancingMidFetch(_Fetcher):
    """aiokafka's wait inside one fetch call: the revoke callback sets ``app.rebalancing``
    before any record arrives, then the records are taken through the same view."""

    def __init__(self, buffered: list[TopicPartition], app: SimpleNamespace) -> None:
        super().__init__(buffered)
        self.app = app

    async def fetched_records(self, partitions, timeout=0, max_records=None):
        self.app.rebalancing = True
        await asyncio.sleep(0)
        return await super().fetched_records(partitions, timeout, max_records)


def test_a_rebalance_that_starts_while_a_fetch_waits_restricts_that_fetch() -> None:
    thread = object.__new__(fetchguard.ConsumerThread)
    thread.app = SimpleNamespace(
        rebalancing=False, tables=SimpleNamespace(changelog_topics={LOG0.topic})
    )
    thread.consumer = SimpleNamespace(flow_active=True)
    fetcher = _RebalancingMidFetch([IN0, LOG0], thread.app)
    consumer = SimpleNamespace(_closed=False, _fetcher=fetcher)
    got = asyncio.run(thread._fetch_records(consumer, {IN0, LOG0}, timeout=0))
    assert set(got) == {LOG0}  # the input record stays in aiokafka's buffer


async def test_the_consumer_fetches_with_the_configured_max_wait() -> None:
    # Faust passes fetch_max_wait_ms=1500 to aiokafka; a long-held fetch for idle partitions
    # stalls the busy ones (one fetch in flight per broker), so the app sets its own
    for wanted, expected in ((100, 100), (None, 1500)):
        app = faust.App(f"fetchwait-{wanted}", broker="kafka://localhost:1", autodiscover=False)
        fetchguard.install(app, fetch_max_wait_ms=wanted)
        thread = app.consumer._thread
        consumer = thread._create_worker_consumer(app.transport)
        try:
            assert consumer._fetch_max_wait_ms == expected
        finally:
            await consumer.stop()  # never started: closes the client it made
