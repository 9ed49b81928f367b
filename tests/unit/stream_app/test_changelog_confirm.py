"""A batch is acked only once Kafka has every changelog write it made; failed ones are re-sent."""

from __future__ import annotations

import asyncio

from stream_app.changelog import confirm


class _Table:
    """The part of :class:`ConfirmedTable` that ``confirm`` uses: sends whose outcome the
    test decides (``fail`` = how many sends of a key fail before one succeeds)."""

    def __init__(self, fail: dict[bytes, int]) -> None:
        self.data: dict[bytes, bytes] = {}
        self.unconfirmed: list = []
        self.fail = dict(fail)
        self.sent: list[tuple[bytes, bytes]] = []

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.data[key] = value
        self.send_changelog(None, key, value)

    def send_changelog(self, partition, key, value):
        fut = asyncio.get_running_loop().create_future()
        self.sent.append((key, value))
        if self.fail.get(key, 0) > 0:
            self.fail[key] -= 1
            fut.set_exception(RuntimeError("broker down"))
        else:
            fut.set_result(None)
        self.unconfirmed.append((key, fut))
        return fut


def test_failed_writes_are_sent_again_with_the_current_value_until_kafka_has_them() -> None:
    async def run() -> tuple[_Table, int]:
        table = _Table({b"1": 2})
        table[b"1"] = b"old"
        table[b"2"] = b"x"
        table.data[b"1"] = b"new"  # the value the table holds when the retry goes out
        return table, await confirm(table, retry_s=0)

    table, resent = asyncio.run(run())
    assert resent == 2
    assert table.sent == [(b"1", b"old"), (b"2", b"x"), (b"1", b"new"), (b"1", b"new")]
    assert table.unconfirmed == []


def test_nothing_to_confirm_returns_at_once() -> None:
    assert asyncio.run(confirm(_Table({}), retry_s=0)) == 0
