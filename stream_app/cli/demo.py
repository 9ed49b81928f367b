"""`stream-app demo`: the main job, end to end on the bundled sample, with real services."""

from __future__ import annotations

import argparse
import shlex
import socket
import time
from dataclasses import replace
from pathlib import Path

from schemas.errors import ConfigError
from stream_app.cli._inputs import ORDERS_HELP, resolve_inputs
from stream_app.cli._numbers import fraction, positive_int
from stream_app.settings import Settings

FIXTURE = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "instacart"

DEMO_PREFIX = "demo"

DESCRIPTION = """\
Run the whole pipeline on real Kafka and Redis:
  1. services up (Kafka KRaft + Redis, reused when already running);
  2. read the sample orders and catalog (default: the bundled tests/fixtures/instacart);
  3. build the batch artifacts from each user's historical orders (all but the last one) into
     the demo's own folder (STREAM_APP_STATE_DIR/demo/artifacts) and seed Redis with the
     fallback and a batch answer per known user under the demo's own key prefix (--prefix,
     default demo), so your own `stream-app build` (artifacts and reco:* answers) is untouched;
  4. start a worker (subprocess) on topics of its own (demo-<run>-*);
  5. replay the users' last orders as events (cart adds, synthetic searches, checkouts);
  6. show a few users' recommendations before their events, with the basket open (before the
     checkout) and after the checkout, with reasons and age,
     and the end-to-end throughput; then stop the worker and delete the run's topics."""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `demo` subcommand."""
    p = sub.add_parser(
        "demo",
        help="run the main job end to end on the bundled sample",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--orders",
        type=Path,
        default=FIXTURE / "orders.csv",
        metavar="PATH",
        help=f"{ORDERS_HELP} (default: the bundled 25-user sample)",
    )
    p.add_argument(
        "--catalog",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder with products.csv, aisles.csv, departments.csv (default: --orders when it "
        "is a release folder, else the bundled one)",
    )
    p.add_argument(
        "--users", type=positive_int, default=3, help="how many users to show (default 3)"
    )
    p.add_argument(
        "--search-rate",
        type=fraction,
        default=0.3,
        help="synthetic searches per cart add in the replayed orders (default 0.3)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="random seed of the synthetic searches (same seed, same events; default 0)",
    )
    p.add_argument(
        "--prefix",
        default=DEMO_PREFIX,
        help=f"Redis key prefix of the demo's answers (default {DEMO_PREFIX}, keys "
        f"{DEMO_PREFIX}:<user_id>); must differ from STREAM_APP_RECO_PREFIX",
    )
    p.add_argument("--keep-topics", action="store_true", help="do not delete the run's topics")
    p.set_defaults(func=run)


def _say(text: str = "") -> None:
    print(text, flush=True)


def show_lines(body: dict) -> list[str]:
    """``get``'s rendering of an answer, as lines."""
    from stream_app.cli.get import render

    return render(body).splitlines()


def worker_summary(baseline: dict[str, int], final: dict[str, int]) -> str:
    """What the worker did between two ``/pipeline/stats`` readings, in words."""
    d = {k: final.get(k, 0) - baseline.get(k, 0) for k in ("events", "dead_letters", "answers")}
    batches = final.get("batches", 0) - baseline.get("batches", 0)
    late = final.get("late_events", 0) - baseline.get("late_events", 0)
    text = (
        f"worker: {d['events']} events applied in {batches} batches, {d['answers']} answers "
        f"written to Redis, {d['dead_letters']} dead letters; "
    )
    if late:
        return text + (
            f"{late} events arrived out of event-time order and were put back in order "
            f"(at most {final.get('max_late_ms', 0)} ms late)"
        )
    return text + "every event arrived in event-time order"


def _show(title: str, body: dict) -> None:
    _say(f"  -- {title}")
    for line in show_lines(body):
        _say(f"     {line}")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run every step; returns 0 when the worker answered every replayed user."""
    from loaders.catalog import load_catalog
    from loaders.instacart import read_orders, split_test_orders
    from scorers import Artifacts
    from stream_app.batch import build_and_seed
    from stream_app.serving import Reader
    from stream_app.stack import provision_topics, services_up
    from stream_app.stack.procs import free_port
    from stream_app.stack.workerproc import WorkerProcess, remove_run, stop_on_sigterm
    from stream_app.tools.replay import Pace, publish, recent_events

    if args.catalog is None and not args.orders.is_dir():
        args.catalog = FIXTURE
    resolve_inputs(args)
    stop_on_sigterm()  # a terminated demo still stops its worker (finally below)

    base = settings
    settings = demo_settings(base, f"demo-{int(time.time())}", args.prefix)
    run_id = settings.app_id
    t_start = time.monotonic()
    _say("== 1. services")
    services_up(base, lambda line: _say(f"   {line}"))
    _say(f"\n== 2. sample: {args.orders} + catalog {args.catalog}")
    catalog = load_catalog(args.catalog)
    orders = read_orders(args.orders)
    history, last = split_test_orders(orders, 1)
    _say(
        f"   {len(orders)} orders of {len({o.user_id for o in orders})} users, "
        f"{len(catalog)} products; history: {len(history)} orders, replayed: {len(last)}"
    )

    _say("\n== 3. build from the historical orders")
    summary = build_and_seed(history, catalog, settings, progress=False)
    _say(
        f"   artifacts for {summary.users} users / {summary.items} items in "
        f"{summary.seconds:.1f}s -> {summary.out_dir}; {summary.answers} batch answers + "
        f"the fallback in Redis ({settings.reco_prefix}:*)"
    )
    artifacts = Artifacts.load(settings.artifacts_dir)

    events = recent_events(orders, last, catalog, search_rate=args.search_rate, seed=args.seed)
    by_user: dict[int, list] = {}
    for e in events:
        by_user.setdefault(e.user_id, []).append(e)
    shown = sorted(by_user, key=lambda u: (-sum(e.type == "search" for e in by_user[u]), u))
    shown = shown[: args.users]
    reader = Reader.from_url(settings.redis_url, settings.reco_prefix)
    before = {u: reader.get(u).to_dict(names=artifacts.name_of) for u in shown}

    if _port_busy(settings.web_host, settings.web_port):
        free = free_port(settings.web_host)
        _say(f"   (port {settings.web_port} is taken; the demo worker serves on {free})")
        settings = replace(settings, web_port=free)
    provision_topics(settings)
    log_path = settings.state_dir / "demo" / f"{run_id}-worker.log"
    _say(f"\n== 4. worker (app id {run_id}, {settings.partitions} partitions, log {log_path})")
    worker = WorkerProcess(settings, log_path)
    ok = False
    try:
        worker.start()
        waited = worker.wait_ready()
        _say(
            f"   consuming after {waited:.1f}s; GET http://{settings.web_host}:"
            f"{settings.web_port}/recommendations/<user_id>"
        )
        baseline = worker.stats()
        # the baskets first (cart adds and searches), so the open-basket answers can be shown,
        # then the checkouts that close them
        shopping = [e for e in events if e.type != "checkout"]
        checkouts = [e for e in events if e.type == "checkout"]
        _say(
            f"\n== 5. replay {len(events)} events of {len(by_user)} users' last orders (--max): "
            f"{len(shopping)} cart adds and searches, then {len(checkouts)} checkouts"
        )
        stats = publish(shopping, settings, pace=Pace(), total=len(shopping))
        missing = _wait_answers(reader, stats.last_ts_by_user, timeout_s=60)
        took = time.time() - stats.first_send_wall_ms / 1000
        during = {u: reader.get(u).to_dict(names=artifacts.name_of) for u in shown}
        closing = publish(checkouts, settings, pace=Pace(), total=len(checkouts))
        final = worker.wait_consumed(baseline["events"] + baseline["dead_letters"] + len(events))
        missing |= _wait_answers(reader, closing.last_ts_by_user, timeout_s=60)
        _say(
            f"   published at {stats.rate:,.0f} events/s; all {len(by_user)} users' answers "
            f"reflect their last cart add or search {took:.2f}s after the first send "
            f"(~{len(shopping) / took:,.0f} events/s end to end)"
        )
        _say(f"   {worker_summary(baseline, final)}")

        _say("\n== 6. before and after")
        for user in shown:
            mine = by_user[user]
            adds = [artifacts.name_of(e.product_id) for e in mine if e.type == "cart_add"]
            searches = [e.query for e in mine if e.type == "search"]
            _say(
                f"\n user {user}: {len(adds)} cart adds ({', '.join(adds[:4])}"
                f"{', ...' if len(adds) > 4 else ''}), searches {searches}, then checkout"
            )
            _show("before (batch answer from history)", before[user])
            _show("during the order (basket open, rescored by the worker)", during[user])
            _show(
                "after (rescored by the worker)", reader.get(user).to_dict(names=artifacts.name_of)
            )
        unknown = reader.get(987_654_321).to_dict(names=artifacts.name_of)
        _say("")
        _show("an unknown user gets the fallback", unknown)
        ok = not missing
        if missing:
            _say(f"\n!! no up-to-date answer for users {sorted(missing)}; see {log_path}")
    finally:
        code = worker.stop()
        reader.close()
        if not args.keep_topics:
            remove_run(settings, _say)
        _say(f"\n== worker stopped (exit {code}); demo took {time.monotonic() - t_start:.0f}s.")
        _say(
            f"   The demo's answers stay in Redis under {settings.reco_prefix}:* and its "
            f"artifacts in {settings.artifacts_dir}; read one with\n     "
            + get_command(settings, shown[0] if shown else 1)
        )
    return 0 if ok else 1


def get_command(settings: Settings, user: int) -> str:
    """The shell command that reads the demo's answer of ``user`` (fresh clone: no venv on PATH)."""
    return (
        f"STREAM_APP_RECO_PREFIX={shlex.quote(settings.reco_prefix)} "
        f"STREAM_APP_ARTIFACTS_DIR={shlex.quote(str(settings.artifacts_dir))} "
        f".venv/bin/stream-app get {user}"
    )


def demo_settings(settings: Settings, run_id: str, prefix: str) -> Settings:
    """The demo's own namespace: consumer group and topics of this run, and an artifacts folder
    and Redis key prefix of the demo's, so a user's own build is never overwritten."""
    if prefix == settings.reco_prefix:
        raise ConfigError(
            f"--prefix {prefix!r} is STREAM_APP_RECO_PREFIX, where your own answers live; "
            "the demo needs a prefix of its own"
        )
    return replace(
        settings,
        app_id=run_id,
        artifacts_dir=settings.state_dir / "demo" / "artifacts",
        reco_prefix=prefix,
        topic_cart_adds=f"{run_id}-cart-adds",
        topic_searches=f"{run_id}-searches",
        topic_checkouts=f"{run_id}-checkouts",
        topic_dead_letters=f"{run_id}-dead-letters",
    )


def _wait_answers(reader, last_ts: dict[int, int], timeout_s: float) -> set[int]:
    """Wait until every user's answer reflects their last event; the users still missing."""
    deadline = time.monotonic() + timeout_s
    missing = set(last_ts)
    while missing and time.monotonic() < deadline:
        for user in list(missing):
            served = reader.get(user)
            if not served.is_fallback and served.recommendation.event_ts >= last_ts[user]:
                missing.discard(user)
        if missing:
            time.sleep(0.05)
    return missing


def _port_busy(host: str, port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) == 0
