"""One bench run, phase after phase: backlog, floors, drain, paced phase with reads, cost.

Everything the run creates is its own (:mod:`stream_app.tools.bench.namespace`) and removed at the
end, whatever happens; every process it starts is tied to it (dies with it).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import redis
from redis.exceptions import RedisError

from schemas.errors import ConfigError, InvalidData, ServiceError
from schemas.events import Event
from stream_app.settings import Settings
from stream_app.tools.bench import traffic
from stream_app.tools.bench.measures import (
    combine,
    events_per_rescore,
    ratio,
    sizes,
    stats_delta,
    surface_costs,
)
from stream_app.tools.bench.namespace import (
    FLOORS,
    bench_settings,
    cleanup,
    floor_config,
    mark_complete,
    new_run_id,
    run_dir,
)

__all__ = ["run_bench"]


def _batch_times(stats: dict[str, int]) -> tuple[int | None, int | None]:
    """When the workers began their first batch and ended their latest (wall ms)."""
    return stats.get("first_batch_ms"), stats.get("last_batch_ms")


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def preflight(settings: Settings, client: redis.Redis) -> str:
    """Both services answer (else a one-line :class:`ServiceError` with the fix); Redis's
    version."""
    from stream_app.serving.reader import unreachable
    from stream_app.stack import kafka_answers
    from stream_app.tools.replay import kafka_unreachable

    try:
        version = str(client.info("server")["redis_version"])
    except (RedisError, OSError) as exc:
        raise ServiceError(unreachable(settings.redis_url, exc)) from exc
    if kafka_answers(settings.kafka_bootstrap, timeout_s=5.0) is None:
        cause = TimeoutError("no answer to a metadata request")
        raise ServiceError(kafka_unreachable(settings.kafka_bootstrap, 5, cause))
    return version


def load_backlog(args: argparse.Namespace, settings: Settings) -> tuple[list[Event], str]:
    """Build (or, with ``--log``, load) the artifacts, seed the run's Redis prefix, and return
    the backlog's events in their file or time order, with a one-line description."""
    from loaders.catalog import load_catalog
    from loaders.instacart import read_orders, split_test_orders
    from stream_app.batch import build_and_seed, seed_answers
    from stream_app.tools.replay import LogReader, recent_events

    progress = not args.no_progress
    if args.log is not None:
        from scorers import Artifacts

        events = list(LogReader(args.log))
        try:
            artifacts = Artifacts.load(settings.artifacts_dir)
        except InvalidData as exc:
            raise InvalidData(
                f"{exc} (--artifacts or STREAM_APP_ARTIFACTS_DIR); run `stream-app build` first"
            ) from exc
        _say(f"seeding {settings.reco_prefix}:* from the artifacts in {settings.artifacts_dir}")
        seed_answers(artifacts, settings, progress=progress)
        return events, f"{args.log.name}"
    catalog = load_catalog(args.catalog)
    orders = traffic.clone_orders(read_orders(args.orders), args.clones)
    history, recent = split_test_orders(orders, args.last_orders)
    if not history:
        raise ConfigError(
            f"--last-orders {args.last_orders} leaves no history to build from: every shopper "
            f"in {args.orders} has at most {args.last_orders} orders"
        )
    events = recent_events(orders, recent, catalog, search_rate=args.search_rate, seed=args.seed)
    _say(f"building from {len(history)} orders (all but each shopper's last {args.last_orders})")
    build_and_seed(history, catalog, settings, progress=progress)
    orders_word = "order" if args.last_orders == 1 else f"{args.last_orders} orders"
    source = (
        f"{args.orders.name}, each shopper's last {orders_word} + searches at {args.search_rate:g}"
    )
    if args.clones > 1:
        source += f", every shopper {args.clones} times (clones)"
    return events, source


def run_bench(args: argparse.Namespace, base: Settings) -> int:
    """Run every phase; print the screen, write ``--json``; 0 if every shopper and every
    paced event got its answer, else 1."""
    from stream_app.stack.workerproc import stop_on_sigterm
    from stream_app.tools.bench.screen import render

    client = redis.Redis.from_url(base.redis_url)
    try:
        redis_version = preflight(base, client)
        stop_on_sigterm()  # a terminated bench still stops its processes (finally below)
        run_id = new_run_id()
        artifacts = (args.artifacts or base.artifacts_dir) if args.log else None
        settings = bench_settings(base, run_id, artifacts)
        settings, surfaces = _surfaces(settings, run_dir(settings, run_id), args.surfaces)
        results: dict[str, Any] = {
            "run": run_id,
            "when_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "options": {
                k: str(v) if isinstance(v, Path) else v
                for k, v in vars(args).items()
                if k not in ("func", "command")
            },
            "conditions": {
                "cpus": os.cpu_count(),
                "load_1m": round(os.getloadavg()[0], 2),
                "kafka": settings.kafka_bootstrap,
                "redis_version": redis_version,
                "workers": args.workers,
                "partitions": settings.partitions,
                "batch_max": settings.batch_max,
                "batch_within_s": settings.batch_within_s,
                "fetch_max_wait_ms": settings.fetch_max_wait_ms,
                "surfaces": surfaces,
            },
        }
        try:
            _phases(args, settings, client, results)
        finally:
            _say(f"cleaning up {run_id} (logs stay in {run_dir(settings, run_id)})")
            cleanup(settings, client, _say)
    finally:
        client.close()
    results["incomplete"] = incomplete(results)
    if args.json:
        import orjson

        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print(render(results), flush=True)
    return 1 if results["incomplete"] else 0


def _surfaces(settings: Settings, logs: Path, which: str) -> tuple[Settings, list[str]]:
    """The settings the workers run with for ``--surfaces which`` and the surfaces' names:
    ``default`` writes a declaration of the default surface alone into the run's folder."""
    from scorers.surfaces import dump_surfaces, load_surfaces

    surfaces = load_surfaces(settings.surfaces_path)
    if which == "default":
        surfaces = surfaces[:1]  # the default surface comes first
        logs.mkdir(parents=True, exist_ok=True)
        path = logs / "surfaces-default-only.toml"
        path.write_text(dump_surfaces(surfaces), encoding="utf-8")
        settings = replace(settings, surfaces_path=path.resolve())
    return settings, [s.name for s in surfaces]


def _phases(
    args: argparse.Namespace, settings: Settings, client: redis.Redis, results: dict[str, Any]
) -> None:
    from stream_app.stack import provision_topics
    from stream_app.stack.procs import free_port
    from stream_app.stack.workerproc import ServeProcess
    from stream_app.tools.bench.cost import redis_sizes, table_state_sizes
    from stream_app.tools.bench.drain import run_floor, watch_drain
    from stream_app.tools.bench.freshness import paced_phase
    from stream_app.tools.bench.reads import Readers, ReadPlan
    from stream_app.tools.bench.workers import Workers
    from stream_app.tools.replay import Pace, publish

    progress = not args.no_progress
    logs = run_dir(settings, settings.app_id)
    events, source = load_backlog(args, settings)
    backlog = traffic.grouped(events) if args.grouped else traffic.interleave(events)
    last_ts = traffic.last_ts_by_user(backlog)
    provision_topics(settings)
    mark_complete(client, settings.reco_prefix, settings.partitions)
    _say(f"publishing the backlog: {len(backlog):,} events of {len(last_ts):,} shoppers")
    published = publish(backlog, settings, pace=Pace(), total=len(backlog), progress=progress)
    results["backlog"] = {
        "source": source,
        "events": len(backlog),
        "shoppers": len(last_ts),
        "order": "shopper by shopper (--grouped)" if args.grouped else "shoppers interleaved",
        "by_topic": dict(published.by_topic),
        "publish_s": round(published.seconds, 2),
        "publish_per_s": round(published.rate),
    }

    results["floors"] = {}
    for name, module in FLOORS.items():
        _say(f"floor {name}: draining the backlog")
        outcome = run_floor(
            module,
            floor_config(settings, name),
            client,
            list(last_ts),
            len(backlog),
            logs / f"floor-{name}.log",
            progress=progress,
        )
        results["floors"][name] = outcome.to_dict()

    _say(f"pipeline: starting {args.workers} worker(s) on the backlog (logs in {logs})")
    workers = Workers(settings, args.workers, logs).start()
    readers: Readers | None = None
    server: ServeProcess | None = None
    try:
        drained = watch_drain(
            client,
            settings.reco_prefix,
            last_ts,
            len(backlog),
            meter=workers.meter(),
            problem=workers.problem,
            batch_times=lambda: _batch_times(combine(workers.stats())),
            progress=progress,
        )
        drain_stats = combine(workers.stats())
        results["drain"] = {
            **drained.to_dict(),
            "events_per_rescore": events_per_rescore(drain_stats),
            "batches": drain_stats.get("batches"),
            "mean_batch": round(drain_stats["events"] / drain_stats["batches"], 1)
            if drain_stats.get("batches")
            else None,
            "generation": drain_stats.get("generation"),
            "surfaces": surface_costs(drain_stats),
            "worker_stats": drain_stats,
        }
        for floor in results["floors"].values():
            floor["pipeline_ratio"] = ratio(drained.events_per_s, floor["events_per_s"])
        results["cost"] = {"cpu_s_per_1k_events": drained.cpu["cpu_s_per_1k_events"]}
        if drained.answered == drained.shoppers:
            paced = traffic.paced_events(
                backlog, round(args.rate * args.seconds), shopper_order=args.grouped
            )
            _say(f"paced phase: {len(paced):,} events at {args.rate:,g}/s, {args.readers} readers")
            server = ServeProcess(
                replace(settings, web_port=free_port(settings.web_host)), logs / "serve.log"
            ).start()
            readers = Readers(
                ReadPlan(
                    redis_url=settings.redis_url,
                    prefix=settings.reco_prefix,
                    users=tuple(last_ts),
                    http=((settings.web_host, server.settings.web_port),),
                    readers=args.readers,
                    seconds=args.seconds,
                    rate=args.read_rate,
                    seed=args.seed,
                ),
                logs / "reads-plan.json",
            ).start()
            fresh = paced_phase(
                settings, paced, args.rate, client, problem=workers.problem, progress=progress
            )
            results["reads"] = readers.result()
            paced_stats = stats_delta(drain_stats, combine(workers.stats()))
            results["freshness"] = {
                **fresh,
                "events_per_rescore": events_per_rescore(paced_stats),
                "surfaces": surface_costs(paced_stats),
                "worker_stats": paced_stats,
            }
        results["cost"]["peak_rss_bytes"] = workers.peak_rss()
    finally:
        if readers is not None:
            readers.stop()
        if server is not None:
            server.stop(10.0)
        workers.stop()
    changelog = f"{settings.app_id}-user-state-changelog"
    results["cost"]["table_state_bytes"] = sizes(
        table_state_sizes(settings.kafka_bootstrap, changelog, progress=progress)
    )
    results["cost"]["redis_bytes"] = sizes(
        redis_sizes(client, settings.reco_prefix, list(last_ts), seed=args.seed)
    )


def incomplete(results: dict[str, Any]) -> list[str]:
    """What never got its answer (the reasons for exit code 1).

    >>> done = {"shoppers": 5, "answered": 5, "events": 9, "applied": 9}
    >>> incomplete({"drain": done, "floors": {"bare": done}, "freshness": {"unanswered": 0}})
    []
    >>> incomplete({"drain": {**done, "answered": 3}, "floors": {"bare": {**done, "applied": 1}}})
    ... # doctest: +NORMALIZE_WHITESPACE
    ['2 of 5 shoppers never got an answer reflecting their last event',
     'floor bare applied 1 of 9 events', 'no paced phase']
    """
    out = []
    d = results.get("drain")
    if d is None:
        return ["no drain"]
    if d["answered"] < d["shoppers"]:
        out.append(
            f"{d['shoppers'] - d['answered']} of {d['shoppers']} shoppers never got an answer "
            "reflecting their last event"
        )
    if d["applied"] < d["events"]:
        out.append(f"the workers applied {d['applied']} of {d['events']} backlog events")
    for name, f in results.get("floors", {}).items():
        if f["applied"] < f["events"]:
            out.append(f"floor {name} applied {f['applied']} of {f['events']} events")
    fresh = results.get("freshness")
    if fresh is None:
        out.append("no paced phase")
    elif fresh["unanswered"]:
        out.append(f"{fresh['unanswered']} of {fresh['events']} paced events never answered")
    return out
