"""A minimal Faust app for the stack tests: one agent copies each event of a topic into Redis.

Run as ``python stack_faust_app.py`` with the ``STACK_TEST_*`` variables set (the test does);
importing it has no side effects. Kept apart from ``stream_app.worker.app`` so that the stack is
tested on its own: Kafka -> aiokafka -> Faust agent -> redis.asyncio.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def make_app(broker: str, redis_url: str, topic: str, app_id: str, datadir: Path, web_port: int):
    """The app: agent on ``topic`` writes ``SET {app_id}:{key} value`` for every event."""
    import faust
    import redis.asyncio as aioredis

    app = faust.App(
        app_id,
        broker=f"kafka://{broker}",
        store="memory://",
        datadir=str(datadir),
        web_enabled=False,
        web_port=web_port,
        topic_partitions=2,
    )
    source = app.topic(topic, key_serializer="raw", value_serializer="raw")
    seen = app.Table("seen", default=int, partitions=2)

    @app.agent(source)
    async def copy_to_redis(stream):
        client = aioredis.Redis.from_url(redis_url)
        async for key, value in stream.items():
            seen[key] += 1  # a changelog-backed table, like the real worker's
            await client.set(f"{app_id}:{key.decode()}", value)

    return app


if __name__ == "__main__":
    env = os.environ
    app = make_app(
        env["STACK_TEST_BROKER"],
        env["STACK_TEST_REDIS_URL"],
        env["STACK_TEST_TOPIC"],
        env["STACK_TEST_APP_ID"],
        Path(env["STACK_TEST_DATADIR"]),
        int(env["STACK_TEST_WEB_PORT"]),
    )
    sys.argv = [sys.argv[0], "worker", "--loglevel", "warn"]
    app.main()
