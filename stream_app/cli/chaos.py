"""`stream-app chaos`: kill the worker, the broker and Redis on purpose, and check every answer."""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import orjson

from schemas.errors import StreamAppError
from stream_app.cli._inputs import add_orders_and_catalog, resolve_inputs
from stream_app.cli._numbers import fraction, positive_float, positive_int
from stream_app.cli._outputs import CREATES_PARENTS, check_output_file
from stream_app.settings import Settings

FAULTS = ("clean", "kill", "broker", "redis-idle", "redis-mid", "fuzz", "dup", "workers")

DESCRIPTION = """\
Replay the shoppers' last --last-orders orders (with synthetic searches) through a real worker
while injecting one fault per scenario, then compare every shopper's answer in Redis with the
offline twin (stream_app.worker.pipeline.replay_offline over the same events), and every other
surface's (reco:USER:SURFACE, replay_surfaces: a fault that re-cuts the batches must not change
them; one that differs fails the scenario, "N surface answers differ from the twin"):

  clean       no fault: the backlog, a worker, the answers (the baseline)
  kill        SIGKILL the worker --kills times at random points of its drain, restarting it
              at once; per restart, the time until it writes its first answer again
  broker      SIGKILL the Kafka broker during a paced replay, keep it down --outage seconds,
              restart it on the same data; the worker is NOT restarted: does it recover?
  redis-idle  after the stream, SIGKILL Redis and restart it empty: do the answers (and the
              global fallback) come back?
  redis-mid   the same in the middle of a paced replay
  fuzz        --bad malformed messages among the events (bad JSON, wrong types, missing
              fields, ~1 MB payloads, wrong/null keys, unknown products, NaN, negative ids,
              bad UTF-8, empty values...): each must be dead-lettered, no good one lost
  dup         a tenth of the events published twice in a row: duplicates must change nothing
  workers     three workers share a paced replay; one is SIGKILLed a third of the way in,
              another stopped cleanly at two thirds, the last finishes alone

Everything runs on a private Kafka + Redis started for the run on free ports, in a temporary
folder (it is killed on purpose: your STREAM_APP_KAFKA_BOOTSTRAP / STREAM_APP_REDIS_URL services
are never touched), with a fresh app id, topics and key prefix per scenario and the
fading-search timer off (answers depend on the events only). Worker, Kafka and Redis logs stay
in that folder, printed at the start.

Columns: differing = shoppers whose answer is not the twin's; events lost = events newer than
their shopper's answer (all of a shopper's events when the answer is missing); time to current
= until every answer reflects its shopper's last event and the worker has committed all its
input (clean, kill, fuzz, dup: from the worker start; broker: from the broker's return; redis-*:
from Redis's return, answers equal to the twin's; workers: from the start of the replay),
"never" when nothing improved for --timeout seconds.

Exit status 0 only if every scenario has 0 differing and 0 lost (and fuzz dead-lettered every
bad message and no good one); 1 otherwise."""


def faults(text: str) -> list[str]:
    """A comma list of fault names (``all`` for every one), in the order given."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return list(FAULTS)
    unknown = [n for n in names if n not in FAULTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown fault(s) {', '.join(unknown) or '(none given)'}; choose from "
            f"{', '.join(FAULTS)} or all"
        )
    return list(dict.fromkeys(names))


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `chaos` subcommand."""
    p = sub.add_parser(
        "chaos",
        help="inject faults (worker/broker/Redis kills, bad input, duplicates) and check answers",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_orders_and_catalog(p)
    p.add_argument(
        "--faults",
        type=faults,
        default=list(FAULTS),
        metavar="LIST",
        help=f"comma list of scenarios (default: all = {','.join(FAULTS)})",
    )
    p.add_argument(
        "--last-orders",
        type=positive_int,
        default=3,
        metavar="N",
        help="replay each shopper's last N orders; build from the ones before (default 3)",
    )
    p.add_argument(
        "--users",
        type=positive_int,
        metavar="N",
        help="a seeded sample of N shoppers (default all)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of searches, kill points, fuzz (0)")
    p.add_argument(
        "--search-rate",
        type=fraction,
        default=0.2,
        help="synthetic searches per cart add (default 0.2)",
    )
    p.add_argument(
        "--kills", type=positive_int, default=10, help="worker SIGKILLs in `kill` (default 10)"
    )
    p.add_argument(
        "--bad", type=positive_int, default=100, help="bad messages in `fuzz` (default 100)"
    )
    p.add_argument(
        "--outage",
        type=positive_float,
        default=30.0,
        metavar="SECONDS",
        help="how long the broker stays down in `broker` (default 30)",
    )
    p.add_argument(
        "--replay-seconds",
        type=positive_float,
        default=40.0,
        metavar="SECONDS",
        help="length of the paced replays of `broker` and `redis-mid` (default 40)",
    )
    p.add_argument(
        "--timeout",
        type=positive_float,
        default=60.0,
        metavar="SECONDS",
        help="give up ('never') when no answer improved for this long (default 60)",
    )
    p.add_argument(
        "--json", type=Path, metavar="OUT", help=f"also write the results ({CREATES_PARENTS})"
    )
    p.add_argument(
        "--keep",
        action="store_true",
        help="keep the private broker's data and the artifacts (default: only the logs stay)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _say(text: str = "") -> None:
    print(text, flush=True)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Build the workload, start the private services, run each fault, print the table."""
    from stream_app.stack.workerproc import stop_on_sigterm
    from stream_app.tools.chaos import (
        SCENARIOS,
        Lab,
        Options,
        PrivateStack,
        ScenarioResult,
        format_table,
        load_workload,
        to_json,
    )
    from stream_app.tools.chaos.table import LEGEND

    resolve_inputs(args)
    if args.json:
        check_output_file(args.json, "--json")
    stop_on_sigterm()  # a terminated run still stops its services and workers (finally below)
    workdir = Path(tempfile.mkdtemp(prefix="stream-app-chaos-"))
    _say(f"== chaos: {', '.join(args.faults)}; logs in {workdir}")
    t0 = time.monotonic()
    workload = load_workload(
        args.orders,
        args.catalog,
        workdir / "artifacts",
        last_orders=args.last_orders,
        users=args.users,
        search_rate=args.search_rate,
        seed=args.seed,
    )
    _say(
        f"   {len(workload.events):,} events of {len(workload.users):,} shoppers' last "
        f"{args.last_orders} orders; artifacts from the orders before "
        f"({time.monotonic() - t0:.1f} s)"
    )
    options = Options(
        kills=args.kills,
        bad=args.bad,
        outage_s=args.outage,
        replay_s=args.replay_seconds,
        stall_s=args.timeout,
        redis_wait_s=args.timeout,
        seed=args.seed,
    )
    stack = PrivateStack(settings, workdir / "stack", lambda line: _say(f"   {line}"))
    results: list[ScenarioResult] = []
    try:
        _say("== private Kafka + Redis for this run (killed on purpose; yours are not touched)")
        stack.up()
        lab = Lab(
            stack.settings,
            workload,
            workdir,
            options,
            stack=stack,
            say=_say,
            progress=not args.no_progress,
        )
        for name in args.faults:
            doc = (SCENARIOS[name].__doc__ or "").strip().splitlines()[0]
            _say(f"\n== {name}: {doc}")
            started = time.monotonic()
            try:
                result = SCENARIOS[name](lab)
            except StreamAppError as exc:
                result = ScenarioResult(
                    name, len(workload.events), len(workload.users), -1, -1, -1, 0, None
                )
                result.failed.append(f"the scenario could not finish: {exc}")
            results.append(result)
            seconds = "never" if result.seconds is None else f"{result.seconds:.1f} s"
            _say(
                f"   {name}: {'ok' if result.ok else 'FAILED'}: {result.differing} differing, "
                f"{result.lost} events lost, current after {seconds} "
                f"(scenario took {time.monotonic() - started:.0f} s)"
            )
    finally:
        stack.down()
        if not args.keep:
            shutil.rmtree(workdir / "stack" / "kafka" / "data", ignore_errors=True)
            shutil.rmtree(workdir / "artifacts", ignore_errors=True)
    _say(f"\n== chaos results ({time.monotonic() - t0:.0f} s in all; logs in {workdir})\n")
    _say(format_table(results))
    _say(f"\n{LEGEND}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = to_json(
            results,
            {
                "orders": str(args.orders),
                "last_orders": args.last_orders,
                "users": args.users,
                "seed": args.seed,
                "search_rate": args.search_rate,
                "options": asdict(options),
            },
        )
        args.json.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    return 0 if results and all(r.ok for r in results) else 1
