"""A Faust table whose changelog writes are confirmed before the batch that made them is acked.

Faust's at-least-once promise for a table rests on the order "changelog written, then input
offset committed". Faust does not keep it: a table assignment puts the changelog record in the
producer's buffer (``send_soon``) and returns, and before committing offsets
``Producer.flush`` waits on that buffer only while messages keep leaving it within 0.1 s
(``ProducerBuffer.flush_atmost`` returns at the first 0.1 s without progress). A send that
fails (a broker restarted, a request timed out) is logged and dropped while the offsets of the
events behind it are committed anyway. Either way a kill -9 or a rebalance afterwards recovers
a state that misses events whose input offsets are already committed: a shopper "bought 6
times" where the events say 7.

:class:`ConfirmedTable` records the future of every changelog send; the agent calls
:func:`confirm` after assigning a batch's states and before the batch is acked (Faust acks
``take_events`` batches after the body). A failed send is sent again with the value the table
holds now (a later value of a key supersedes an earlier one in a compacted changelog), until
Kafka has every write: a broker outage stalls the batch instead of losing it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust

__all__ = ["ConfirmedTable", "confirm"]

log = logging.getLogger(__name__)


class ConfirmedTable(faust.Table):
    """``faust.Table`` remembering ``(key, future)`` of every changelog send until confirmed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.unconfirmed: list[tuple[Any, Any]] = []

    def send_changelog(self, partition: int | None, key: Any, value: Any, *args: Any) -> Any:
        """Faust's send, with the future kept for :func:`confirm`."""
        fut = super().send_changelog(partition, key, value, *args)
        self.unconfirmed.append((key, fut))
        return fut


async def confirm(table: ConfirmedTable, *, retry_s: float = 1.0, warn_s: float = 30.0) -> int:
    """Wait until Kafka has every changelog write of ``table`` so far; returns how many were
    sent again. A failed write is re-sent with the key's current value (a deleted key: no
    re-send, the delete's own record follows in the same list). Waits as long as it takes
    (a broker outage), with a warning every ``warn_s``."""
    resent = 0
    while table.unconfirmed:
        pending, table.unconfirmed = table.unconfirmed, []
        futures = {fut for _, fut in pending}
        _, waiting = await asyncio.wait(futures, timeout=warn_s)
        while waiting:
            log.warning("still waiting for %d changelog write(s) (is Kafka up?)", len(waiting))
            _, waiting = await asyncio.wait(waiting, timeout=warn_s)
        failed = {key: fut for key, fut in pending if _failure(fut) is not None}
        if not failed:
            continue
        first = next(_failure(fut) for fut in failed.values())
        log.warning(
            "%d changelog write(s) failed (%r); sending them again in %.1f s",
            len(failed),
            first,
            retry_s,
        )
        await asyncio.sleep(retry_s)
        for key in failed:
            value = table.data.get(key)
            if value is not None:
                table.send_changelog(None, key, value)
                resent += 1
    return resent


def _failure(fut: asyncio.Future) -> BaseException | None:
    """The exception of a finished future (a cancelled send counts as failed)."""
    if fut.cancelled():
        return asyncio.CancelledError()
    return fut.exception()
