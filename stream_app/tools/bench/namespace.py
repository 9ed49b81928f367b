"""A bench run's own places, and removing them afterwards.

Run id ``bench-YYYYmmdd-HHMMSS-xxxxxx``: the topics ``{run}-cart-adds`` ... (so the backlog is
the run's alone), the workers' app id (consumer group) ``{run}``, the floors' groups
``{run}-bare`` and ``{run}-faust``, Redis key prefixes ``{run}``, ``{run}-bare`` and
``{run}-faust``, files under ``STREAM_APP_STATE_DIR/bench/{run}/`` (artifacts, logs).
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import redis
from redis.exceptions import RedisError

from stream_app.settings import Settings
from stream_app.tools.bench.floors import FloorConfig

__all__ = [
    "FLOORS",
    "bench_settings",
    "cleanup",
    "floor_config",
    "mark_complete",
    "new_run_id",
    "run_dir",
]

FLOORS = {"bare": "bare", "faust": "minimal_faust"}
"""Floor name (suffix of its group and prefix) -> module under ``stream_app.tools.bench.floors``."""


def new_run_id() -> str:
    """A fresh run id (time and a random part: two runs in one second differ)."""
    return f"bench-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:6]}"


def run_dir(settings: Settings, run_id: str) -> Path:
    """Where a run keeps its artifacts and logs."""
    return settings.state_dir / "bench" / run_id


def bench_settings(base: Settings, run_id: str, artifacts_dir: Path | None = None) -> Settings:
    """The workers' settings: the run's topics, group and key prefix; the fading-search timer
    off (its rescoring is not part of these figures and would make runs differ by timing).

    >>> s = bench_settings(Settings(), "bench-x")
    >>> s.app_id, s.reco_prefix, s.topic_cart_adds, s.decay_rescore_interval_s
    ('bench-x', 'bench-x', 'bench-x-cart-adds', 0.0)
    """
    return base.isolated(run_id, artifacts_dir or run_dir(base, run_id) / "artifacts")


def floor_config(settings: Settings, name: str) -> FloorConfig:
    """A floor's group, prefix and batching: those of the workers' ``settings``."""
    from stream_app.worker.app import datadir

    group = f"{settings.app_id}-{name}"
    return FloorConfig(
        bootstrap=settings.kafka_bootstrap,
        redis_url=settings.redis_url,
        topics=tuple(settings.input_topics()),
        group=group,
        prefix=group,
        partitions=settings.partitions,
        batch_max=settings.batch_max,
        within_s=settings.batch_within_s,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        datadir=datadir(replace(settings, app_id=group)),
    )


def mark_complete(client: redis.Redis, prefix: str, partitions: int) -> None:
    """Tell the workers Redis holds every answer of every partition (the marker of
    :mod:`stream_app.worker.rematerialise`, as a worker that finished a rebuild leaves it), as it
    does right after seeding: a worker started on a fresh prefix would otherwise rebuild
    every answer it owns during the drain, a one-off not part of steady-state costs."""
    from stream_app.worker.rematerialise import marker_key

    run_id = str(client.info("server")["run_id"])
    epoch = uuid.uuid4().hex
    fields = {"run_id": run_id, "epoch": epoch, **{f"p{p}": epoch for p in range(partitions)}}
    client.hset(marker_key(prefix), mapping=fields)


def cleanup(settings: Settings, client: redis.Redis, say: Callable[[str], None] = print) -> None:
    """Best effort: delete the run's topics, Faust data, consumer groups, Redis keys and
    artifacts (its logs stay: they are small, and what to read when a run failed)."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    from stream_app.stack.workerproc import remove_run

    run_id = settings.app_id
    remove_run(settings, say)
    faust_floor = replace(settings, app_id=f"{run_id}-faust")
    remove_run(faust_floor, lambda _: None)  # its assignor topic and data folder
    try:
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap.split(","))
        try:
            # kafka-python 3 renamed delete_consumer_groups; an unknown group is no error here
            delete = getattr(admin, "delete_groups", None) or admin.delete_consumer_groups
            delete([run_id, *(f"{run_id}-{n}" for n in FLOORS)])
        finally:
            admin.close()
    except KafkaError as exc:
        say(f"   (could not delete the run's consumer groups: {exc})")
    try:
        doomed = list(client.scan_iter(match=f"{run_id}*", count=1_000))
        for i in range(0, len(doomed), 1_000):
            client.delete(*doomed[i : i + 1_000])
    except (RedisError, OSError) as exc:
        say(f"   (could not delete the run's Redis keys: {exc})")
    shutil.rmtree(run_dir(settings, run_id) / "artifacts", ignore_errors=True)
