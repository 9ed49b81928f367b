"""Floor (a), a bare consumer: aiokafka, ``orjson`` decode, one pipelined Redis write per batch.

No state, no scoring, no Faust: ``getmany`` up to the worker's batch size (waiting at most its
batch window when nothing is buffered), with the worker's fetch wait. Offsets are committed
by aiokafka's auto-commit. Run by ``stream-app bench`` as
``python -m stream_app.tools.bench.floors.bare --bootstrap ... --topics a,b,c ...``; stops on
SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence

from stream_app.tools.bench.floors.common import FloorConfig, FloorWriter, parse_floor_args

__all__ = ["consume", "main"]


async def consume(config: FloorConfig) -> None:
    """Consume the topics from the start until cancelled."""
    import redis.asyncio as aioredis
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        *config.topics,
        bootstrap_servers=config.bootstrap,
        group_id=config.group,
        client_id=config.group,
        auto_offset_reset="earliest",
        enable_auto_commit=True,
        fetch_max_wait_ms=config.fetch_max_wait_ms,
        max_poll_records=config.batch_max,
    )
    client = aioredis.Redis.from_url(config.redis_url)
    writer = FloorWriter(client, config.prefix)
    await consumer.start()
    try:
        while True:
            fetched = await consumer.getmany(
                timeout_ms=int(config.within_s * 1000), max_records=config.batch_max
            )
            values = [r.value for records in fetched.values() for r in records]
            if values:
                await writer.write(values)
    finally:
        await consumer.stop()
        await client.aclose()


async def _until_sigterm(config: FloorConfig) -> None:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):  # SIGTERM: the bench is done with it
        await consume(config)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the floor until SIGTERM."""
    asyncio.run(_until_sigterm(parse_floor_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
