"""A Faust table whose changelog writes are confirmed before the batch that made them is acked.

Faust's at-least-once promise for a table rests on the order "changelog written, then input
offset committed". Faust does not keep it: a table assignment puts the changelog record in the
producer's buffer (``send_soon``) and returns, and before committing offsets
``Producer.flush`` waits on that buffer only while messages keep leaving it within 0.1 s
(``ProducerBuffer.flush_atmost`` returns at the first 0.1 s without progress). A send that
fails (a broker restarted, a request timed out) is logged and dropped while the offsets of the
events behind it are committed anyway. Either way a kill -9 or a rebalance afterwards recovers
a state that misses events whose input offsets are already committed.

:class:`ConfirmedTable` takes assignments into its store at once and remembers the keys; the
batch task calls :func:`confirm` before the batch is acked (:mod:`stream_app.worker.intake` acks
a record set after it was handled), which sends each remembered key's current value to the
changelog (one aiokafka send each: Faust's per-message producer path costs several times more)
and waits until Kafka has them all. A failed send is sent again with the value the table holds
then (a later value of a key supersedes an earlier one in a compacted changelog): a broker
outage stalls the batch instead of losing it. The records are exactly those Faust writes (raw
key and value, the key's partition by the producers' partitioner), so Faust's own recovery reads
them back.

Until Kafka has confirmed them, assigned values live in the table's ``unsent`` overlay, which
reads see first; :func:`confirm` then moves them into the store. For the RocksDB store
(:mod:`stream_app.worker.store`) that write also records the confirmed changelog offsets, so
the local database is always a prefix of the changelog and a restart reads only its tail.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust

from stream_app.worker.store import PartitionedRocksStore, confirmed_offsets

__all__ = ["ConfirmedTable", "confirm"]

log = logging.getLogger(__name__)


class ConfirmedTable(faust.Table):
    """``faust.Table`` whose assignments reach the changelog, then the store, in
    :func:`confirm`; reads see assigned values at once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.unsent: dict[Any, Any] = {}

    def _new_store_by_url(self, url: Any) -> Any:
        if str(url).startswith("rocksdb:"):  # Faust's finds partitions by the current event
            return PartitionedRocksStore(
                url,
                self.app,
                self,
                table_name=self.name,
                key_type=self.key_type,
                key_serializer=self.key_serializer,
                value_serializer=self.value_serializer,
                value_type=self.value_type,
                loop=self.loop,
                options=self.options,
            )
        return super()._new_store_by_url(url)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.unsent[key] = value

    def __getitem__(self, key: Any) -> Any:
        value = self.unsent.get(key)
        return self.data[key] if value is None else value

    def get(self, key: Any, default: Any = None) -> Any:
        """The value of ``key`` (assigned, else stored), else ``default``."""
        value = self.unsent.get(key)
        if value is not None:
            return value
        value = self.data.get(key)
        return default if value is None else value

    def __contains__(self, key: object) -> bool:
        return key in self.unsent or key in self.data

    def keys(self) -> Any:  # type: ignore[override]
        """Stored keys and those assigned but not yet confirmed."""
        unsent = list(self.unsent)
        seen = set(unsent)
        return unsent + [k for k in self.data if k not in seen]

    def store_confirmed(self, values: dict[Any, Any], offsets: dict[Any, int]) -> None:
        """Move values Kafka confirmed from the overlay into the store (with the changelog
        offsets they reach, for RocksDB)."""
        if isinstance(self.data, PartitionedRocksStore):
            self.data.write_confirmed(values, offsets)
        else:
            for key, value in values.items():
                self.data[key] = value
        for key, value in values.items():
            if self.unsent.get(key) is value:
                del self.unsent[key]


async def confirm(table: Any, *, retry_s: float = 1.0, warn_s: float = 30.0) -> int:
    """Send the changelog records of every key assigned since the last call, wait until Kafka
    has them all, then move them into the table's store; returns how many were sent again
    after a failure. Waits as long as it takes (a broker outage), with a warning every
    ``warn_s``."""
    resent = 0
    keys = list(table.unsent)
    if not keys:
        return 0
    topic = table.changelog_topic.get_topic_name()
    producer = table.app.producer
    confirmed: dict[Any, Any] = {}
    metas: list[Any] = []
    while keys:
        sent: list[tuple[Any, Any, asyncio.Future]] = []
        failed: list[Any] = []
        first: BaseException | None = None
        for key in keys:
            value = table.unsent.get(key)
            if value is None:
                continue
            try:
                fut = await producer.send(topic, key, value, None, None, None)
            except Exception as exc:  # the producer refused it now: same as a failed send
                failed.append(key)
                first = first or exc
            else:
                sent.append((key, value, fut))
        waiting = {fut for _, _, fut in sent}
        while waiting:
            _, waiting = await asyncio.wait(waiting, timeout=warn_s)
            if waiting:
                log.warning("still waiting for %d changelog write(s) (is Kafka up?)", len(waiting))
        for key, value, fut in sent:
            exc = _failure(fut)
            if exc is not None:
                failed.append(key)
                first = first or exc
            else:
                confirmed[key] = value
                metas.append(fut.result())
        if not failed:
            break
        log.warning(
            "%d changelog write(s) failed (%r); sending them again in %.1f s",
            len(failed),
            first,
            retry_s,
        )
        await asyncio.sleep(retry_s)
        resent += len(failed)
        keys = failed
    table.store_confirmed(confirmed, confirmed_offsets(metas))
    return resent


def _failure(fut: asyncio.Future) -> BaseException | None:
    """The exception of a finished future (a cancelled send counts as failed)."""
    if fut.cancelled():
        return asyncio.CancelledError()
    return fut.exception()
