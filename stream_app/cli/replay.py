"""`stream-app replay LOG.jsonl`: publish an event log to the input topics."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stream_app.cli._numbers import positive_float
from stream_app.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `replay` subcommand."""
    p = sub.add_parser(
        "replay",
        help="publish an event log (JSON lines) to Kafka",
        description=(
            "Publish each event of LOG to the topic of its type (cart-adds, searches, "
            "checkouts), keyed by str(user_id), Kafka timestamp = the event's ts, in file "
            "order. Default pace: --max."
        ),
    )
    p.add_argument("log", type=Path, metavar="LOG.jsonl")
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=positive_float, help="X times event time (1 = real time)")
    pace.add_argument("--rate", type=positive_float, help="N events per second")
    pace.add_argument("--max", action="store_true", help="as fast as possible (default)")
    p.add_argument("--skip-bad", action="store_true", help="skip (and count) bad lines")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--connect-timeout",
        type=positive_float,
        default=30.0,
        metavar="SECONDS",
        help="give up if Kafka does not answer within this time (default: 30)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Read the log (failing on the first bad line unless --skip-bad), publish, summarise."""
    from stream_app.tools.replay import LogReader, Pace, publish

    reader = LogReader(args.log, skip_bad=args.skip_bad)
    events = list(reader)
    print(
        f"connecting to Kafka at {settings.kafka_bootstrap} "
        f"(giving up after {args.connect_timeout:g} s)...",
        file=sys.stderr,
        flush=True,
    )
    stats = publish(
        events,
        settings,
        pace=Pace(args.speed, args.rate),
        total=len(events),
        progress=not args.no_progress,
        connect_timeout_s=args.connect_timeout,
    )
    topics = ", ".join(f"{t}: {n}" for t, n in sorted(stats.by_topic.items()))
    print(
        f"published {stats.events} events in {stats.seconds:.2f}s ({stats.rate:,.0f} events/s) "
        f"to {settings.kafka_bootstrap} [{topics}]"
    )
    if reader.bad:
        reasons = ", ".join(f"{r}: {n}" for r, n in reader.bad.most_common())
        n_bad = sum(reader.bad.values())
        print(f"skipped {n_bad} bad lines ({reasons}); first: {reader.first_bad}")
    return 0
