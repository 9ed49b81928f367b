"""`stream-app scale`: a store's worth of shoppers' state through one worker, and its costs."""

from __future__ import annotations

import argparse
from pathlib import Path

import orjson

from stream_app.cli._inputs import add_orders_and_catalog, resolve_inputs
from stream_app.cli._numbers import positive_int
from stream_app.cli._outputs import CREATES_PARENTS, check_output_file
from stream_app.settings import Settings

DESCRIPTION = """\
Put --shoppers shoppers' state into one worker through Kafka (`stream-app services up`), on
topics, a group and a Redis prefix of this run only (scale-<time>-<random>-*, removed at the
end; logs stay in STREAM_APP_STATE_DIR/bench/<run>/logs), and measure what it costs:

  shoppers   synthetic, with real histories: shopper i is a copy of the (i mod R)-th of the
             R shoppers of --orders (their seed from the real batch build, under a new id);
             each gets --events cart adds of products from that history.
  drain      the events are published first; then one worker, with the table store of
             --store, folds them all: events/s from spawning it (start-up included) to the
             last event applied.
  state      worker RSS after the drain and at its peak, the worker's data folder on disk,
             the seeds file, and table bytes per shopper (the stopped worker's RocksDB).
  restarts   kill -9 and restart, then a clean stop and restart: seconds from spawning the
             new worker to /readyz answering 200, and to its first new answer.

Prints one screen and writes the figures with --json."""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `scale` subcommand."""
    p = sub.add_parser(
        "scale",
        help="a million shoppers' state through one worker: RSS, disk, bytes/shopper, restarts",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_orders_and_catalog(p)
    p.add_argument(
        "--shoppers",
        type=positive_int,
        default=1_000_000,
        metavar="N",
        help="synthetic shoppers (default 1,000,000)",
    )
    p.add_argument(
        "--events",
        type=positive_int,
        default=1,
        metavar="E",
        help="cart adds per shopper (default 1)",
    )
    p.add_argument(
        "--store",
        choices=("rocksdb", "memory"),
        default="rocksdb",
        help="the worker's table store (default rocksdb)",
    )
    p.add_argument("--no-restarts", action="store_true", help="skip the two restarts")
    p.add_argument(
        "--json", type=Path, metavar="OUT", help=f"also write the figures ({CREATES_PARENTS})"
    )
    p.add_argument("--keep", action="store_true", help="keep the run's topics, keys and data")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the measurement and print its screen."""
    from stream_app.stack.workerproc import stop_on_sigterm
    from stream_app.tools.scale import format_result, run_scale

    resolve_inputs(args)
    if args.json:
        check_output_file(args.json, "--json")
    stop_on_sigterm()  # a terminated run still stops its worker and cleans up
    result = run_scale(
        args.orders,
        args.catalog,
        settings,
        shoppers=args.shoppers,
        per_shopper=args.events,
        store=args.store,
        restarts=not args.no_restarts,
        keep=args.keep,
        say=lambda line: print(line, flush=True),
    )
    print()
    print(format_result(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2))
    return 0
