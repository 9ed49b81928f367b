"""Floor (b), a minimal Faust app: one agent, ``take_events``, ``orjson`` decode, one pipelined
Redis write per batch; no table, no scoring.

It is what a worker taking every record through a Faust stream costs (``take_events(batch_max,
within=batch_within_s)``: the worker's batch size, the floor's own window), before any state or
scoring. Like the worker it consumes through :mod:`stream_app.worker.fetchguard` for the
worker's fetch wait: with Faust's fixed 1.5 s the floor would idle on caught-up partitions and
flatter the ratio. Run by ``stream-app bench`` as
``python -m stream_app.tools.bench.floors.minimal_faust ...``; Faust stops it on SIGTERM.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from stream_app.tools.bench.floors.common import FloorConfig, FloorWriter, parse_floor_args

__all__ = ["main", "make_app"]


def make_app(config: FloorConfig):  # -> faust.App
    """The app: agent ``floor`` over the topics writes each batch's latest event per shopper."""
    import faust
    import redis.asyncio as aioredis

    from stream_app.worker import fetchguard

    config.datadir.parent.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        config.group,
        env={},  # as the worker: no WEB_PORT, BROKER_URL, ... from the environment
        broker=[f"kafka://{hp.strip()}" for hp in config.bootstrap.split(",")],
        store="memory://",
        topic_partitions=config.partitions,
        topic_replication_factor=1,
        web_enabled=False,
        autodiscover=False,
        datadir=str(config.datadir),
    )
    fetchguard.install(app, fetch_max_wait_ms=config.fetch_max_wait_ms)
    source = app.topic(
        *config.topics,
        partitions=config.partitions,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )

    @app.agent(source, name="floor", concurrency=1)
    async def floor(stream: faust.StreamT) -> None:
        """decode -> one pipelined write, once per batch."""
        client = aioredis.Redis.from_url(config.redis_url)
        writer = FloorWriter(client, config.prefix)
        try:
            async for batch in stream.take_events(config.batch_max, within=config.within_s):
                await writer.write([e.message.value for e in batch])
        finally:
            await client.aclose()

    return app


def main(argv: Sequence[str] | None = None) -> int:
    """Run the floor's Faust worker until SIGTERM."""
    import faust

    app = make_app(parse_floor_args(argv))
    faust.Worker(app, loglevel="warning").execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
