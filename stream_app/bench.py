"""Rough end-to-end numbers of the pipeline: ``python -m stream_app.bench [--orders CSV ...]``.

Needs the services (``stream-app services up``). On topics, app id and Redis prefix of its own:

1. build from every user's orders except the last two, seed Redis, start one worker;
2. **throughput**: replay every user's second-to-last order ``--max``; the time from the first
   send until every user's answer in Redis reflects their last replayed event (``event_ts``);
3. **delay**: replay the last orders at ``--rate`` events/s; for each event, the delay from
   its send until an answer reflecting it is in Redis (its ``updated_at``, stamped by the sink
   just before the pipelined write; Redis is polled every 5 ms with one MGET).

Prints a summary (and ``--json OUT``). Numbers are rough: one worker, one machine, the
producer and the poller share the CPU with Kafka, Redis and the worker.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import orjson

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "instacart"


def _percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in (0, 1]) of a non-empty list.

    >>> _percentile(list(range(1, 11)), 0.9), _percentile(list(range(1, 101)), 0.99)
    (9, 99)
    >>> _percentile([5.0], 0.5)
    5.0
    """
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when every answer arrived, 1 when some never did."""
    from schemas.catalog import load_catalog
    from schemas.instacart import read_orders, split_test_orders
    from schemas.recommendation import Recommendation, reco_key
    from stream_app.commands.build import build_and_seed
    from stream_app.replay import Pace, publish, recent_events
    from stream_app.services import provision_topics
    from stream_app.serving import Reader
    from stream_app.settings import Settings
    from stream_app.workerproc import WorkerProcess, remove_run, stop_on_sigterm

    stop_on_sigterm()  # a terminated bench still stops its worker (finally below)

    p = argparse.ArgumentParser(
        prog="python -m stream_app.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--orders", type=Path, default=FIXTURE / "orders.csv")
    p.add_argument("--catalog", type=Path, default=FIXTURE)
    p.add_argument("--rate", type=float, default=200.0, help="events/s of the delay phase")
    p.add_argument("--search-rate", type=float, default=0.3)
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)

    run = f"bench-{int(time.time())}"
    base = Settings.from_env()
    settings = replace(
        base,
        app_id=run,
        reco_prefix=run,
        artifacts_dir=base.state_dir / "bench" / run,
        topic_cart_adds=f"{run}-cart-adds",
        topic_searches=f"{run}-searches",
        topic_checkouts=f"{run}-checkouts",
        topic_dead_letters=f"{run}-dead-letters",
        decay_rescore_interval_s=0.0,
    )
    catalog = load_catalog(args.catalog)
    orders = read_orders(args.orders)
    rest, last = split_test_orders(orders, 1)
    history, second_last = split_test_orders(rest, 1)
    build = build_and_seed(history, catalog, settings, progress=False)
    phase1 = recent_events(orders, second_last, catalog, search_rate=args.search_rate, seed=1)
    phase2 = recent_events(orders, last, catalog, search_rate=args.search_rate, seed=2)
    print(
        f"{args.orders}: {build.users} users; throughput phase {len(phase1)} events, "
        f"delay phase {len(phase2)} events at {args.rate:g}/s",
        flush=True,
    )

    provision_topics(settings)
    reader = Reader.from_url(settings.redis_url, settings.reco_prefix)
    worker = WorkerProcess(settings, settings.state_dir / "bench" / f"{run}-worker.log")
    results: dict[str, object] = {
        "users": build.users,
        "partitions": settings.partitions,
        "batch_max": settings.batch_max,
        "batch_within_s": settings.batch_within_s,
    }
    try:
        worker.start()
        results["worker_ready_s"] = round(worker.wait_ready(), 2)

        # --- throughput ---------------------------------------------------------------------
        stats = publish(phase1, settings, pace=Pace(), progress=False)
        users = sorted(stats.last_ts_by_user)
        keys = [reco_key(u, settings.reco_prefix) for u in users]
        deadline = time.monotonic() + 300
        while True:
            values = reader.client.mget(keys)
            recos = [None if v is None else Recommendation.from_bytes(v) for v in values]
            done = [
                r
                for r, u in zip(recos, users, strict=True)
                if r is not None and r.event_ts >= stats.last_ts_by_user[u]
            ]
            if len(done) == len(users) or time.monotonic() > deadline:
                break
            time.sleep(0.005)
        last_write_s = max(r.updated_at for r in done) / 1000 if done else time.time()
        elapsed = last_write_s - stats.first_send_wall_ms / 1000
        results["throughput"] = {
            "events": stats.events,
            "publish_events_per_s": round(stats.rate),
            "first_send_to_last_answer_s": round(elapsed, 3),
            "end_to_end_events_per_s": round(stats.events / elapsed),
            "users_answered": len(done),
            "users": len(users),
        }
        print(
            f"throughput: {stats.events} events, producer {stats.rate:,.0f}/s; first send -> "
            f"last answer {elapsed:.2f}s = {stats.events / elapsed:,.0f} events/s end to end",
            flush=True,
        )

        # --- delay ---------------------------------------------------------------------------
        sent: dict[int, list[tuple[int, float]]] = {}

        def remember(event, wall_s: float) -> None:
            sent.setdefault(event.user_id, []).append((event.ts, wall_s))

        producer = threading.Thread(
            target=publish,
            args=(phase2, settings),
            kwargs={"pace": Pace(rate=args.rate), "progress": False, "on_send": remember},
            daemon=True,
        )
        producer.start()
        delays: list[float] = []
        deadline = time.monotonic() + 120 + len(phase2) / args.rate
        while (producer.is_alive() or any(sent.values())) and time.monotonic() < deadline:
            users = list(sent)
            if not users:
                time.sleep(0.005)
                continue
            keys = [reco_key(u, settings.reco_prefix) for u in users]
            for user, raw in zip(users, reader.client.mget(keys), strict=True):
                if raw is None or not sent[user]:
                    continue
                reco = Recommendation.from_bytes(raw)
                while sent[user] and sent[user][0][0] <= reco.event_ts:
                    _, wall_s = sent[user].pop(0)
                    delays.append(reco.updated_at - wall_s * 1000)
            time.sleep(0.005)
        producer.join()
        if not delays:
            print("delay: no answer reflected any of the paced events", flush=True)
            raise SystemExit(1)
        results["delay_ms"] = {
            "events": len(delays),
            "sent": len(phase2),
            "p50": round(statistics.median(delays), 1),
            "p90": round(_percentile(delays, 0.9), 1),
            "p99": round(_percentile(delays, 0.99), 1),
            "max": round(max(delays), 1),
        }
        print(
            f"delay event -> answer in Redis over {len(delays)} events at {args.rate:g}/s: "
            f"p50 {results['delay_ms']['p50']} ms, p90 {results['delay_ms']['p90']} ms, "
            f"p99 {results['delay_ms']['p99']} ms",
            flush=True,
        )
        results["worker_stats"] = worker.stats()
    finally:
        worker.stop()
        reader.client.delete(*(reader.client.keys(f"{run}:*") or ["-"]))
        reader.close()
        remove_run(settings)
    if args.json:
        args.json.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print(orjson.dumps(results).decode())
    throughput, delay = results["throughput"], results["delay_ms"]
    missing = throughput["users"] - throughput["users_answered"]
    unseen = delay["sent"] - delay["events"]
    if missing or unseen:
        print(
            f"INCOMPLETE: {missing} users without an answer reflecting their last event, "
            f"{unseen} paced events never reflected in Redis",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
