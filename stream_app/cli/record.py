"""`stream-app record --out LOG.jsonl`: dump the input topics back to an event log."""

from __future__ import annotations

import argparse

from stream_app.cli._numbers import positive_float
from stream_app.cli._outputs import add_event_log_out, check_output_file
from stream_app.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `record` subcommand."""
    p = sub.add_parser(
        "record",
        help="dump the input topics to an event log (JSON lines, ordered by ts)",
        description=(
            "Read cart-adds, searches and checkouts from the beginning and write every valid "
            "event to LOG ordered by event time; stops after --timeout seconds without a "
            "new message. Invalid values are counted and left out."
        ),
    )
    add_event_log_out(p)
    p.add_argument(
        "--timeout",
        type=positive_float,
        default=5.0,
        metavar="S",
        help="stop after S seconds without a message (default 5)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Record and summarise."""
    from stream_app.tools.replay import record

    check_output_file(args.out, "--out")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    n, skipped = record(settings, args.out, timeout_s=args.timeout)
    print(f"wrote {n} events to {args.out}")
    if skipped:
        reasons = ", ".join(f"{r}: {c}" for r, c in skipped.most_common())
        print(f"left out {sum(skipped.values())} invalid values ({reasons})")
    return 0
