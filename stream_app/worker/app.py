"""The Faust app, in data-flow order: input topics → batch intake → user-state table → Redis.

``create_app(settings)`` builds a fresh app (no module-level config), so tests and the demo
make apps with their own ids, topics and key prefixes. The steps themselves live in
:mod:`stream_app.worker.pipeline`; this module only wires them into Faust: the input topics are
subscribed without a stream, their record sets reach one task through
:mod:`stream_app.worker.intake`, and ``score`` runs the steps on each.

Faust traps handled here (each cost a debugging session somewhere):

* **Writing a table outside a stream event** fails ("Cannot modify table key from outside of
  stream iteration", faust-streaming#497), and the batch task has no current event. The table
  therefore uses ``use_partitioner=True`` with raw ``str(user_id)`` keys, so the changelog
  partition is chosen by the same murmur2 partitioner producers use for the input topics:
  changelog partition == input partition, as recovery expects.
* **A failed batch must not be committed.** A batch is acked only after ``score`` returned;
  ``score`` never raises into Faust: invalid events are dead-lettered, sink failures retried,
  and anything else ends the process without a commit
  (:func:`stream_app.worker.deadletter.stop_worker`).
* **No ordering across topics**, even co-partitioned ones: a checkout can be read before the
  cart adds it closes. The intake merges each partition group's records by append time, and
  the per-user reorder buffer kept in the table (:mod:`features.reorder`) applies events in
  event-time order across batches, whatever the order they arrive in.
* Values are consumed as raw bytes: a Faust codec error would be logged and the message
  skipped by Faust itself, invisible to the dead-letter policy.
* **Fetches racing a rebalance** lost input events and could hang table recovery forever;
  the app consumes through :mod:`stream_app.worker.fetchguard` (Faust's transport, guarded
  fetch).
* **Faust's own environment variables** (``WEB_PORT``, ``BROKER_URL``, ...) override what the
  app is given: the app is made with ``env={}``, so :class:`~stream_app.settings.Settings` is
  the one source.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import faust
from faust.types import TP

from scorers import Artifacts
from scorers.surfaces import load_surfaces
from stream_app.clock import wall_ms
from stream_app.serving import AsyncReader
from stream_app.serving.http import register_health, register_views
from stream_app.settings import Settings
from stream_app.worker import fetchguard, rematerialise
from stream_app.worker.changelog import ConfirmedTable, confirm
from stream_app.worker.deadletter import stop_worker
from stream_app.worker.frontier import Frontier
from stream_app.worker.intake import Intake
from stream_app.worker.intake import run as intake_loop
from stream_app.worker.metrics import (
    Lag,
    MeteredSink,
    RebalanceSensor,
    ScrapeCollector,
    WorkerMetrics,
    not_ready_reason,
    partition_lag,
)
from stream_app.worker.pipeline import Incoming, Pipeline, feature_config
from stream_app.worker.sinks import RedisSink, Sink
from stream_app.worker.store import estimated_keys, rocksdb_options, store_url

__all__ = ["create_app", "datadir", "internal_topics", "tabledir"]

log = logging.getLogger(__name__)

LOG_APPEND_TIME = 1  # a record's timestamp_type when the broker stamped its append time
RAW = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}


def internal_topics(settings: Settings) -> list[str]:
    """Topics Faust creates for the app: the table's changelog and the assignor's."""
    return [f"{settings.app_id}-user-state-changelog", f"{settings.app_id}-__assignor-__leader"]


def datadir(settings: Settings) -> Path:
    """Faust's local data folder of one worker (under the state dir, not the working directory):
    one per web port, as workers on one host must not share RocksDB databases, and a worker
    restarted on its port finds its own again."""
    return settings.state_dir / "faust" / settings.app_id / f"worker-{settings.web_port}"


def tabledir(settings: Settings) -> Path:
    """Where Faust keeps one worker's table databases (``{datadir}/v{version}/tables``)."""
    return datadir(settings) / "v1" / "tables"


def create_app(
    settings: Settings, *, artifacts: Artifacts | None = None, sink: Sink | None = None
) -> faust.App:
    """A Faust app scoring the input topics of ``settings`` into Redis (or ``sink``)."""
    artifacts = artifacts if artifacts is not None else Artifacts.load(settings.artifacts_dir)
    if sink is None:
        sink = RedisSink.from_url(settings.redis_url, settings.reco_prefix, fenced=True)
    frontier = Frontier(settings.input_topics())
    metrics = WorkerMetrics()
    surfaces = load_surfaces(settings.surfaces_path)
    pipeline = Pipeline(
        artifacts,
        MeteredSink(sink, metrics),
        config=feature_config(artifacts, settings.session_gap_ms),
        k=settings.k,
        max_event_bytes=settings.max_event_bytes,
        hold_ms=settings.reorder_hold_ms,
        frontier=frontier,
        surfaces=surfaces,
    )
    datadir(settings).mkdir(parents=True, exist_ok=True)  # Faust makes only the leaf
    app = faust.App(
        settings.app_id,
        env={},  # Settings is the one source: Faust would let WEB_PORT, BROKER_URL, ... override
        broker=[f"kafka://{hp.strip()}" for hp in settings.kafka_bootstrap.split(",")],
        store=store_url(settings.table_store),
        table_standby_replicas=settings.standby_replicas,
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        web_enabled=True,
        web_port=settings.web_port,
        web_host=settings.web_host,
        web_bind=settings.web_host,
        autodiscover=False,
        datadir=str(datadir(settings)),
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.heartbeat_interval_s,
        broker_rebalance_timeout=settings.rebalance_timeout_s,
        consumer_group_instance_id=settings.instance_id(),
        broker_max_poll_records=settings.batch_max,  # the largest record set handled at once
    )
    # before the consumer exists; see stream_app/worker/fetchguard.py and
    # stream_app/worker/intake.py
    intake = Intake(settings.input_topics(), max_set=settings.batch_max)
    fetchguard.install(
        app, fetch_max_wait_ms=settings.fetch_max_wait_ms, frontier=frontier, intake=intake
    )

    # --- topics -> agent -> table -> sink ---------------------------------------------------
    events = app.topic(*settings.input_topics(), partitions=settings.partitions, **RAW)
    dead_letters = app.topic(settings.topic_dead_letters, **RAW)
    states = app.tables.add(  # bytes key/value types give the raw codec for the changelog
        ConfirmedTable(
            app,
            name="user-state",
            beacon=app.tables.beacon,
            key_type=bytes,
            value_type=bytes,
            partitions=settings.partitions,
            use_partitioner=True,
            options=rocksdb_options(
                block_cache_mb=settings.rocksdb_block_cache_mb,
                write_buffer_mb=settings.rocksdb_write_buffer_mb,
            )
            if settings.table_store == "rocksdb"
            else None,
        )
    )

    app.topics.add(events)  # subscribed; its records go to the intake, not to a stream
    intake.app = app

    async def score(batch: list[Any]) -> None:
        """decode → update → write back → rank → sink, once per fetched record set."""
        pipeline.begin_batch()
        started = time.perf_counter()
        # a revocation from here on: note nobody (Faust waits for the batch being handled
        # before it revokes, so this guards the timer's lock wait, not these steps)
        generation = pipeline.notes.generation
        messages = [incoming(m) for m in batch]
        pipeline.observe(messages)
        decoded, rejected = pipeline.decode(messages)
        touched, failed = pipeline.update(states, decoded)
        pipeline.write_back(states, touched)
        # the changelog records go out now and overlap ranking and the Redis write
        sending = asyncio.ensure_future(confirm(states))
        folded = time.perf_counter()
        async with pipeline.lock:
            answers = pipeline.rank(touched, surfaces=pipeline.dispatch(decoded, touched))
            ranked = time.perf_counter()
            await pipeline.write(answers, touched, generation=generation)
        written = time.perf_counter()
        written_ms = wall_ms()
        await sending  # the changelog has the states before the batch is acked
        await send_all(dead_letters, rejected + failed)
        done = time.perf_counter()
        steps = {
            "fold": folded - started,
            "rank": ranked - folded,
            "sink": written - ranked,
            "confirm": done - written,
        }
        pipeline.count_batch(len(messages), done - started, **steps)
        metrics.batch_done(
            messages,
            rejected + failed,
            (m.appended_ms for m, _ in decoded),
            written_ms,
            len(touched),
            {**steps, "total": done - started},
        )

    health = _Health()

    @app.task
    async def take_batches() -> None:
        """The one consumer of the intake (concurrency 1): each record set scored, then acked."""
        health.consuming = True
        try:
            await intake_loop(intake, score)
        except Exception as exc:  # the STOP branch of the error policy
            stop_worker(exc, "the score task")
        finally:
            health.consuming = False

    if settings.decay_rescore_interval_s > 0:

        @app.timer(settings.decay_rescore_interval_s, name="fade-searches")
        async def fade_searches() -> None:
            """Rescore users whose search intent faded since their last answer."""
            try:
                n = await pipeline.rescore_faded(states)
            except Exception as exc:
                stop_worker(exc, "the fade-searches timer")
            if n:
                log.info("rescored %d users whose search context faded", n)

    def highwater(topic: str, partition: int) -> int | None:
        """The consumer's last known high-water mark of an assigned partition, else None.

        Advisory (it only tells a recreated topic from a redelivery), so any failure to read
        it, e.g. a partition revoked a moment ago or a consumer being restarted, means
        "unknown" rather than a reason to stop the worker.
        """
        try:
            end = app.consumer.highwater(TP(topic, partition))
        except Exception:  # advisory: see the docstring
            return None
        return end if isinstance(end, int) else None

    pipeline.highwater = highwater

    @app.on_partitions_revoked.connect
    async def forget_notes(sender: Any, revoked: Any, **kwargs: Any) -> None:
        pipeline.notes.clear()
        frontier.clear()
        intake.clear()

    # --- Redis lost answers: write this worker's again (stream_app/worker/rematerialise.py)
    # ---------
    if settings.redis_check_interval_s > 0:
        owner = rematerialise.Ownership()
        rebuilder = rematerialise.Rematerialiser.from_url(
            settings.redis_url,
            pipeline,
            states,
            prefix=settings.reco_prefix,
            partitions=settings.partitions,
            ownership=owner,
            fading=settings.decay_rescore_interval_s > 0,
        )

        @app.on_partitions_revoked.connect
        async def unsettle(sender: Any, revoked: Any, **kwargs: Any) -> None:
            owner.revoke()

        @app.on_rebalance_complete.connect
        async def settle(sender: Any, **kwargs: Any) -> None:
            """Active table partitions recovered: those are the users a rebuild may write."""
            changelog = states.changelog_topic.get_topic_name()
            actives = app.assignor.assigned_actives()
            owner.settle(tp.partition for tp in actives if tp.topic == changelog)

        @app.timer(settings.redis_check_interval_s, name="rebuild-answers")
        async def rebuild_answers() -> None:
            """Write this worker's answers again when Redis lost (or may have lost) them."""
            try:
                await rebuilder.check()
            except Exception as exc:
                stop_worker(exc, "the rebuild-answers timer")

    # --- metrics and health (stream_app/worker/metrics.py) ----------------------------------
    health.sensor = RebalanceSensor(metrics)
    app.sensors.add(health.sensor)

    def input_tps() -> list[TP]:
        try:
            actives = app.assignor.assigned_actives()
        except Exception:  # no assignment yet
            return []
        return sorted(tp for tp in actives if frontier.wants(tp.topic))

    def lags() -> list[tuple[str, int, Lag]]:
        now = wall_ms()
        out = []
        for tp in input_tps():
            position = frontier.position(tp.topic, tp.partition)
            lag = partition_lag(
                highwater(tp.topic, tp.partition),
                position,
                frontier.mark(tp.topic, tp.partition),
                now,
            )
            if lag is not None:
                out.append((tp.topic, tp.partition, lag))
        return out

    def not_ready() -> str | None:
        flow = getattr(app, "flow_control", None)
        return not_ready_reason(
            started=bool(app.started),
            assigned=len(input_tps()),
            recovered=health.sensor is not None and health.sensor.recovered,
            rebalancing=bool(app.rebalancing),
            consuming=health.consuming and (flow is None or flow.is_active()),
        )

    metrics.registry.register(
        ScrapeCollector(
            lags, lambda: estimated_keys(states.data), lambda: not_ready() is None, pipeline.stats
        )
    )
    reader = AsyncReader.from_url(
        settings.redis_url, settings.reco_prefix, [s.name for s in surfaces]
    )
    register_views(app, reader, artifacts.name_of)
    register_health(app, metrics.registry, not_ready)
    app.metrics = metrics  # type: ignore[attr-defined]  # for tests
    app.pipeline = pipeline  # type: ignore[attr-defined]  # for tests and the stats page
    app.intake = intake  # type: ignore[attr-defined]  # for the stats page
    return app


class _Health:
    """What ``/readyz`` reads besides the app: the score task runs, the rebalance sensor."""

    consuming: bool = False
    sensor: RebalanceSensor | None = None


def incoming(msg: Any) -> Incoming:
    """The plain values of a Faust message."""
    appended = None
    if msg.timestamp_type == LOG_APPEND_TIME and msg.timestamp is not None:
        appended = round(msg.timestamp * 1000)
    return Incoming(msg.topic, msg.partition, msg.offset, msg.key, msg.value, appended)


async def send_all(topic: faust.TopicT, records: list) -> None:
    """Produce dead-letter records and wait until Kafka has them (before the batch is acked)."""
    if not records:
        return
    futures = [
        await topic.send(key=(r.key or "").encode("latin-1"), value=r.to_bytes()) for r in records
    ]
    for fut in futures:
        await fut
