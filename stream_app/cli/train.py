"""`stream-app train`: learn the re-ranker's weights from Instacart orders with river."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from loaders.catalog import load_catalog
from loaders.instacart import read_orders, split_test_orders
from stream_app.cli._inputs import add_orders_and_catalog, resolve_inputs
from stream_app.cli._numbers import fraction, non_negative_int, positive_int
from stream_app.cli._outputs import CREATES_PARENTS, check_output_file
from stream_app.settings import Settings

__all__ = ["register", "run"]

DESCRIPTION = """\
Train the linear re-ranker the worker and `stream-app eval` score with, and write its model
file (JSON: version, feature names, weights, bias, metadata). Examples are the cart adds of each
user's last --holdout-orders (training) orders: the added product is a positive, sampled other
candidates are negatives; the artifacts that generate the candidates come only from the orders
before them (no leakage). With --test-orders N each user's last N orders are left out entirely,
so the model can be evaluated on them."""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `train` subcommand."""
    p = sub.add_parser(
        "train",
        help="train the re-ranker (river) and write the model file",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_orders_and_catalog(p)
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="MODEL",
        help=f"model file to write (JSON; {CREATES_PARENTS})",
    )
    p.add_argument(
        "--test-orders",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="leave out each user's last N orders (default: 0, learn from all)",
    )
    p.add_argument(
        "--holdout-orders",
        type=positive_int,
        default=8,
        metavar="H",
        help="the last H training orders of each user give the examples (default: 8; a "
        "user with fewer orders gives examples from all but their first)",
    )
    p.add_argument(
        "--epochs",
        type=positive_int,
        default=2,
        metavar="E",
        help="passes over the examples (default: 2)",
    )
    p.add_argument(
        "--search-rate",
        type=fraction,
        default=0.3,
        metavar="R",
        help="synthetic searches in the training events, so search features get "
        "weights (default: 0.3)",
    )
    p.add_argument(
        "--objective",
        choices=("approx_hr", "pairwise", "pointwise"),
        default="approx_hr",
        help="approx_hr (default): pairwise, then one pass with the pairs weighted by the "
        "gradient of a smoothed HR@10 (top-of-the-list focus); pairwise: learn which of two "
        "candidates was added; pointwise: learn whether each candidate was added",
    )
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed (default: 0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Train and write the model file."""
    resolve_inputs(args)
    check_output_file(args.out, "--out")
    from scorers.learn import train_model  # river is slow to import: only when training

    t0 = time.perf_counter()
    catalog = load_catalog(args.catalog)
    orders = read_orders(args.orders)
    train = split_test_orders(orders, args.test_orders)[0] if args.test_orders else orders
    print(
        f"training on {len(train)} orders (test orders left out per user: {args.test_orders}) ...",
        file=sys.stderr,
    )
    model, learner = train_model(
        train,
        catalog,
        holdout_orders=args.holdout_orders,
        search_rate=args.search_rate,
        seed=args.seed,
        epochs=args.epochs,
        objective=args.objective,
        meta={"source": args.orders.name, "test_orders_left_out": args.test_orders},
    )
    model.save(args.out)
    print(
        f"wrote {args.out}: {model.version}, {learner.n_learned} rows learned, "
        f"{model.meta.get('positives')} positives, {time.perf_counter() - t0:.1f} s"
    )
    for name, w in sorted(
        zip(model.features, model.weights, strict=True), key=lambda t: -abs(t[1])
    )[:10]:
        print(f"  {name:<22}{w:+.3f}")
    return 0
