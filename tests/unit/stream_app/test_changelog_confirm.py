"""A batch is acked only once Kafka has every changelog write it made; failed ones are re-sent;
the store gets a value only after Kafka confirmed it."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from stream_app.worker.changelog import ConfirmedTable, confirm


class _Producer:
    """Sends whose outcome the test decides (``fail`` = how many sends of a key fail first)."""

    def __init__(self, fail: dict[bytes, int]) -> None:
        self.fail = dict(fail)
        self.sent: list[tuple[str, bytes, bytes]] = []

    async def send(self, topic, key, value, partition, timestamp, headers):
        fut = asyncio.get_running_loop().create_future()
        self.sent.append((topic, key, value))
        if self.fail.get(key, 0) > 0:
            self.fail[key] -= 1
            fut.set_exception(RuntimeError("broker down"))
        else:
            offset = self.offset = getattr(self, "offset", -1) + 1
            fut.set_result(SimpleNamespace(topic=topic, partition=0, offset=offset))
        return fut


def _table(producer: _Producer) -> SimpleNamespace:
    """The parts of a :class:`ConfirmedTable` that ``confirm`` uses."""
    table = SimpleNamespace(data={}, unsent={}, app=SimpleNamespace(producer=producer))
    table.changelog_topic = SimpleNamespace(get_topic_name=lambda: "app-user-state-changelog")
    table.store_confirmed = lambda values, offsets: ConfirmedTable.store_confirmed(
        table,  # type: ignore[arg-type]
        values,
        offsets,
    )
    return table


def _assign(table: SimpleNamespace, key: bytes, value: bytes) -> None:
    ConfirmedTable.__setitem__(table, key, value)  # type: ignore[arg-type]


def test_each_key_goes_out_once_with_its_latest_value_and_failures_are_sent_again() -> None:
    producer = _Producer({b"1": 2})
    table = _table(producer)

    async def run() -> int:
        _assign(table, b"1", b"old")
        _assign(table, b"2", b"x")
        _assign(table, b"1", b"new")  # a later assignment in the same batch supersedes
        assert ConfirmedTable.get(table, b"1") == b"new"  # type: ignore[arg-type]
        assert table.data == {}  # not in the store before Kafka confirmed it
        return await confirm(table, retry_s=0)

    assert asyncio.run(run()) == 2
    topic = "app-user-state-changelog"
    assert producer.sent == [
        (topic, b"1", b"new"),
        (topic, b"2", b"x"),
        (topic, b"1", b"new"),
        (topic, b"1", b"new"),
    ]
    assert table.unsent == {}
    assert table.data == {b"1": b"new", b"2": b"x"}


def test_nothing_assigned_sends_nothing() -> None:
    producer = _Producer({})
    assert asyncio.run(confirm(_table(producer), retry_s=0)) == 0
    assert producer.sent == []
