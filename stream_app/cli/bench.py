"""`stream-app bench`: throughput, freshness, read latency and cost of the pipeline, with floors."""

from __future__ import annotations

import argparse
from pathlib import Path

from schemas.errors import ConfigError
from stream_app.cli._inputs import CATALOG_HELP, ORDERS_HELP, resolve_inputs
from stream_app.cli._numbers import (
    fraction,
    non_negative_int,
    positive_float,
    positive_int,
)
from stream_app.cli._outputs import CREATES_PARENTS, check_output_file
from stream_app.settings import Settings

DESCRIPTION = """\
Measure the pipeline on real Kafka and Redis (`stream-app services up`), on topics, consumer
groups and Redis key prefixes of this run only (bench-<time>-<random>-*, removed at the end;
worker and floor logs stay in STREAM_APP_STATE_DIR/bench/<run>/). Phases:

  backlog    build from each shopper's orders except their last --last-orders (or, with
             --log, use the artifacts of `stream-app build`), seed the run's Redis prefix, and
             publish those last orders as events (cart adds, synthetic searches at
             --search-rate, checkouts). Traffic is a store's: consecutive events come from
             different shoppers (round-robin), each shopper's in their own order; --grouped
             publishes shopper by shopper instead.
  floors     the same backlog drained by (a) a bare aiokafka consumer (orjson decode, one
             pipelined Redis SET per shopper per batch) and (b) a minimal Faust app doing the
             same (take_events, the workers' batch size and window); no state, no scoring.
  drain      --workers worker processes start on the backlog. Events/s from the start of their
             first batch to the end of the batch that applied the last event, with every
             shopper's answer reflecting their last event (answer event_ts), and that rate as
             a ratio to each floor's, measured the same way: on a machine shared with other
             work the ratios are the figures to compare between runs. Also events per rescore
             (the workers' /pipeline/stats): with few shoppers a batch holds many events of
             each, which flatters the rate; --clones K gives a store's many shoppers.
  freshness  events (the backlog again, later in time) paced at --rate for --seconds; for each,
             send -> its answer in Redis (the answer's updated_at, stamped just before the
             write): p50, p90, p99, max.
  reads      meanwhile --readers threads (a process of their own) read random shoppers'
             answers, half through the serving library (one MGET), half through HTTP
             GET /recommendations/{user_id} of a `stream-app serve` process, --read-rate
             reads/s in all: p50, p99, and the rate achieved (each thread waits for its answer
             before its next read).
  cost       worker CPU seconds per 1,000 events during the drain (/proc, from each worker's
             first applied events on), peak RSS (VmHWM), table state bytes per shopper (last
             value per key of the changelog topic), Redis bytes per shopper (MEMORY USAGE of
             a sample of answers).

Prints one screen (progress bars on stderr) and writes the results with --json. Exit code 1 if
some shopper or paced event never got its answer, 2 on bad input or services not answering."""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `bench` subcommand."""
    p = sub.add_parser(
        "bench",
        help="measure drain rate (with floors), freshness, reads and cost on your data",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    data = p.add_argument_group("backlog (--orders [--catalog], or --log)")
    data.add_argument("--orders", type=Path, metavar="PATH", help=ORDERS_HELP)
    data.add_argument("--catalog", type=Path, metavar="DIR", help=CATALOG_HELP)
    data.add_argument(
        "--log",
        type=Path,
        metavar="LOG.jsonl",
        help="an event log instead (stream-app import-instacart / record); the artifacts come "
        "from --artifacts",
    )
    data.add_argument(
        "--artifacts",
        type=Path,
        metavar="DIR",
        help="with --log: artifacts to load (default STREAM_APP_ARTIFACTS_DIR)",
    )
    data.add_argument(
        "--last-orders",
        type=positive_int,
        default=10,
        metavar="N",
        help="each shopper's last N orders are the backlog, the rest the history (default 10)",
    )
    data.add_argument(
        "--search-rate",
        type=fraction,
        default=0.3,
        metavar="R",
        help="synthetic searches per cart add (default 0.3)",
    )
    data.add_argument(
        "--seed",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="random seed of the searches and the readers (default 0)",
    )
    data.add_argument(
        "--clones",
        type=positive_int,
        default=1,
        metavar="K",
        help="every shopper K times under different user ids (synthetic: a store with K times "
        "as many shoppers at once, on the same histories; default 1). With --orders only",
    )
    data.add_argument(
        "--grouped",
        action="store_true",
        help="publish shopper by shopper (default: shoppers interleaved, as in a store)",
    )
    p.add_argument(
        "--workers", type=positive_int, default=1, metavar="N", help="worker processes (default 1)"
    )
    p.add_argument(
        "--rate",
        type=positive_float,
        default=2000.0,
        metavar="N",
        help="events/s of the paced phase (default 2000; above the drain rate the delays "
        "are the queue growing)",
    )
    p.add_argument(
        "--seconds",
        type=positive_float,
        default=20.0,
        metavar="S",
        help="length of the paced phase in seconds (default 20)",
    )
    p.add_argument(
        "--readers",
        type=positive_int,
        default=4,
        metavar="N",
        help="reader threads during the paced phase (default 4)",
    )
    p.add_argument(
        "--read-rate",
        type=float,
        default=200.0,
        metavar="N",
        help="reads/s of all readers together, half library, half HTTP (default 200; "
        "0 = as fast as they can, which takes CPU from the workers)",
    )
    p.add_argument(
        "--surfaces",
        choices=("all", "default"),
        default="all",
        help="the workers rescore every declared surface (all, the default; "
        "STREAM_APP_SURFACES_PATH or scorers/surfaces.toml) or the default one only, "
        "as before surfaces (default), for comparison",
    )
    p.add_argument(
        "--json",
        type=Path,
        metavar="OUT",
        help=f"also write the results as JSON ({CREATES_PARENTS})",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def check_inputs(args: argparse.Namespace) -> None:
    """The backlog options make sense together (a release folder as --orders is also the
    default --catalog); output paths are writable (before any work).

    >>> ns = argparse.Namespace(orders=Path("o.csv"), catalog=None, log=None, artifacts=None,
    ...                         read_rate=0.0, json=None)
    >>> check_inputs(ns)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    schemas.errors.ConfigError: --orders needs --catalog (the folder with products.csv) unless ...
    """
    if args.log is not None:
        if args.orders is not None or args.catalog is not None:
            raise ConfigError("give either --log or --orders with --catalog, not both")
    elif args.orders is None:
        if args.catalog is not None:
            raise ConfigError("--catalog goes with --orders")
        raise ConfigError("give the backlog: --orders PATH [--catalog DIR], or --log LOG.jsonl")
    elif args.catalog is None and not args.orders.is_dir():
        raise ConfigError(
            "--orders needs --catalog (the folder with products.csv) unless it is a release folder"
        )
    if args.artifacts is not None and args.log is None:
        raise ConfigError("--artifacts goes with --log (with --orders the bench builds its own)")
    if getattr(args, "clones", 1) > 1 and args.log is not None:
        raise ConfigError("--clones goes with --orders (a --log is published as it is)")
    if args.orders is not None and not args.orders.exists():
        raise ConfigError(f"--orders {args.orders}: no such file or folder")
    for option, path, want_dir in (("--catalog", args.catalog, True), ("--log", args.log, False)):
        if path is not None and not (path.is_dir() if want_dir else path.is_file()):
            raise ConfigError(f"{option} {path}: no such {'folder' if want_dir else 'file'}")
    if args.orders is not None:
        resolve_inputs(args)
    if args.read_rate < 0:
        raise ConfigError(f"--read-rate must be 0 or more, got {args.read_rate:g}")
    if args.json is not None:
        check_output_file(args.json, "--json")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Check the options, run the bench."""
    from stream_app.tools.bench import run_bench

    check_inputs(args)
    return run_bench(args, settings)
