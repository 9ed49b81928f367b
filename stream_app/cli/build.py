"""`stream-app build --orders PATH [--catalog DIR]`: batch artifacts + seeded answers in Redis."""

from __future__ import annotations

import argparse
from pathlib import Path

from stream_app.batch import build_and_seed
from stream_app.cli._inputs import add_orders_and_catalog, resolve_inputs
from stream_app.cli._numbers import non_negative_int
from stream_app.cli._outputs import CREATES_PARENTS, check_output_dir
from stream_app.settings import Settings

__all__ = ["register", "run"]

DESCRIPTION = """\
From historical orders (Instacart: a merged orders CSV or a folder of the public release, see
--orders) and the catalog, compute the batch artifacts the worker loads (popularity,
co-occurrence, search index, each known user's seeded state, model) and write them to --out
(default STREAM_APP_ARTIFACTS_DIR). Then write the global fallback and a
context-free (batch) answer for every known user to Redis, in pipelined batches, so a known
user has a personalised answer before any event."""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `build` subcommand."""
    p = sub.add_parser(
        "build",
        help="build batch artifacts and seed Redis with batch answers",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_orders_and_catalog(p)
    p.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help=f"artifacts folder (default: STREAM_APP_ARTIFACTS_DIR; {CREATES_PARENTS})",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar while seeding Redis")
    p.add_argument(
        "--test-orders",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="build only from each user's orders before their last N, the history, so "
        "replaying those last N orders (import-instacart --test-orders N) does not count "
        "them twice (default: 0, all orders)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Read inputs, build, seed, summarise."""
    from loaders.catalog import load_catalog
    from loaders.instacart import read_orders, split_test_orders

    resolve_inputs(args)
    check_output_dir(
        args.out or settings.artifacts_dir, "--out" if args.out else "STREAM_APP_ARTIFACTS_DIR"
    )
    catalog = load_catalog(args.catalog)
    orders = read_orders(args.orders)
    print(f"read {len(orders)} orders and {len(catalog)} products")
    if args.test_orders:
        orders = split_test_orders(orders, args.test_orders)[0]
        print(f"building from {len(orders)} orders (each user's last {args.test_orders} left out)")
    s = build_and_seed(orders, catalog, settings, out_dir=args.out, progress=not args.no_progress)
    print(
        f"built artifacts for {s.users} users and {s.items} items in {s.seconds:.1f}s -> "
        f"{s.out_dir}; wrote {s.answers} batch answers (every surface build seeds) + the "
        f"fallback to {settings.redis_url} "
        f"({settings.reco_prefix}:*)"
    )
    return 0
