"""`stream-app eval`: prequential evaluation of every method on Instacart orders."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import orjson
from tqdm import tqdm

from loaders.catalog import load_catalog
from loaders.instacart import read_orders, split_test_orders
from scorers.artifacts import build_artifacts
from scorers.evaluation.summary import LIFT_BASELINE
from scorers.model import DEFAULT_MODEL_PATH, LinearModel, default_model
from stream_app.cli._inputs import add_orders_and_catalog, resolve_inputs
from stream_app.cli._numbers import fraction, positive_int
from stream_app.cli._outputs import CREATES_PARENTS, check_output_dir, check_output_file
from stream_app.settings import Settings

__all__ = [
    "ONLINE_LR",
    "format_surfaces",
    "format_table",
    "overlap_warning",
    "register",
    "run",
]

ONLINE_LR = 0.0002
"""SGD step of streaming_online: small, since it starts from the trained weights."""

DESCRIPTION = """\
Replay every user's orders as events (the same conversion as import-instacart) and, for each
cart add of the test period (each user's last --test-orders orders), first take every method's
current top-K (basket items excluded), score it against the product actually added, then
apply the event. Batch artifacts and the re-ranker's weights come only from the other orders.

Methods: popularity, personal_top (the user's most bought items), cached (the batch answer
seeded before the order starts), streaming (the worker's default answer, the blended surface)
and, with --online, streaming_online (the re-ranker keeps learning from the test stream).

Surfaces (scorers.surface_models.MODELS, the functions the worker calls), each with the metric
that fits it, beside baselines: blended (the default answer: today's figures), basket and
search (HR@K on cart adds, overall and on never-bought products; search with --search-rate),
buy_again (recall@K of the next order from the answer held when it starts); then each surface
model's median time per shopper rescored.

Model: --model FILE uses that model file; --model default uses the shipped
scorers/models/default.json; without --model the re-ranker is trained first on the training
orders of this file (as `stream-app train --test-orders N` would), which adds 1-1.5 minutes
on the dev file."""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `eval` subcommand."""
    p = sub.add_parser(
        "eval",
        help="prequential evaluation: HR/MRR/NDCG of every method on Instacart orders",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_orders_and_catalog(p)
    p.add_argument("--k", type=positive_int, default=10, help="list length K (default: 10)")
    p.add_argument(
        "--test-orders",
        type=positive_int,
        default=1,
        metavar="N",
        help="each user's last N orders are the test period (default: 1)",
    )
    p.add_argument(
        "--search-rate",
        type=fraction,
        default=0.0,
        metavar="R",
        help="probability of a synthetic search before each cart add (default: 0)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="S",
        help="seed of synthetic searches, bootstrap and training (default: 0)",
    )
    p.add_argument(
        "--model",
        default=None,
        metavar="MODEL",
        help="model file, or 'default' for the shipped one (default: train now)",
    )
    p.add_argument(
        "--online",
        action="store_true",
        help="also run streaming_online (river keeps learning from the stream)",
    )
    p.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="OUT",
        help=f"write the result dict as JSON ({CREATES_PARENTS})",
    )
    p.add_argument(
        "--report",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"write an HTML report with plots (matplotlib) into DIR ({CREATES_PARENTS})",
    )
    p.set_defaults(func=run)


def format_table(result: dict[str, Any]) -> str:
    """The readable results table printed on stdout."""
    k = result["k"]
    head = (
        f"{'method':<17}{'HR@' + str(k):>8}{'95% CI':>17}{'MRR@' + str(k):>9}"
        f"{'NDCG@' + str(k):>9}{'HR@20':>8}{'pos 0':>8}{'1-2':>7}{'3+':>7}"
        f"{'repeat':>8}{'new':>7}{'<10':>7}{'10-29':>7}{'30+':>7}{'NB-R@' + str(k):>8}"
    )
    lines = [head, "-" * len(head)]

    def f(x: Any) -> str:
        return "—" if x is None else f"{x:.4f}"

    for name, m in result["methods"].items():
        ci = f"[{m['hr_ci'][0]:.3f}, {m['hr_ci'][1]:.3f}]"
        p, h, r = m["by_position"], m["by_history"], m["by_repeat"]
        lines.append(
            f"{name:<17}{f(m['hr']):>8}{ci:>17}{f(m['mrr']):>9}{f(m['ndcg']):>9}"
            f"{f(m['hr20']):>8}{f(p['0']):>8}{f(p['1-2']):>7}{f(p['3+']):>7}"
            f"{f(r['repeat']):>8}{f(r['new']):>7}{f(h['<10']):>7}{f(h['10-29']):>7}"
            f"{f(h['30+']):>7}{f(m['next_basket_recall']):>8}"
        )
    lifts = [
        f"{name} {m['lift']:.3f}x [{m['lift_ci'][0]:.3f}, {m['lift_ci'][1]:.3f}]"
        for name, m in result["methods"].items()
        if "lift" in m and name != LIFT_BASELINE
    ]
    if lifts:
        lines.append(
            f"HR@{k} over {LIFT_BASELINE}'s (paired user-bootstrap 95% CI): " + ";  ".join(lifts)
        )
    return "\n".join(lines)


def format_surfaces(result: dict[str, Any]) -> str:
    """The per-surface table: each surface's metric beside its baselines', and its cost.

    >>> print(format_surfaces({"k": 10, "surfaces": {"buy_again": {"next_basket_recall": 0.4,
    ...     "rescore_ms_p50": 0.3, "baselines": {"personal_top": {"next_basket_recall": 0.35}}}}}))
    surface    answer           HR@10  repeat    new  NB-R@10  ms p50
    -----------------------------------------------------------------
    buy_again  buy_again            —       —      —   0.4000   0.300
               personal_top         —       —      —   0.3500
    """
    k = result["k"]
    head = (
        f"{'surface':<11}{'answer':<15}{'HR@' + str(k):>7}{'repeat':>8}{'new':>7}"
        f"{'NB-R@' + str(k):>9}{'ms p50':>8}"
    )
    lines = [head, "-" * len(head)]

    def f(x: Any) -> str:
        return "—" if x is None else f"{x:.4f}"

    def row(surface: str, answer: str, m: dict[str, Any]) -> str:
        r = m.get("by_repeat") or {}
        ms = m.get("rescore_ms_p50")
        return (
            f"{surface:<11}{answer:<15}{f(m.get('hr')):>7}{f(r.get('repeat')):>8}"
            f"{f(r.get('new')):>7}{f(m.get('next_basket_recall')):>9}"
            + (f"{ms:>8.3f}" if ms is not None else "")
        ).rstrip()

    for name, m in result.get("surfaces", {}).items():
        lines.append(row(name, name, m))
        lines.extend(row("", base, b) for base, b in m.get("baselines", {}).items())
    return "\n".join(lines)


def surface_costs(result: dict[str, Any]) -> str:
    """One line: each surface model's median wall time per shopper rescored."""
    parts = [
        f"{name} {m['rescore_ms_p50']:.3f}"
        for name, m in result.get("surfaces", {}).items()
        if "rescore_ms_p50" in m
    ]
    total = sum(m.get("rescore_ms_p50", 0.0) for m in result.get("surfaces", {}).values())
    return (
        "surface models, ms per shopper rescored (p50, one call each): "
        + ", ".join(parts)
        + f"; all surfaces {total:.3f}"
    )


def overlap_warning(meta: dict[str, Any], orders: Path, test_orders: int) -> str | None:
    """A warning when a given model may have been trained on this run's test orders.

    ``stream-app train`` records the orders file's name (``source``) and how many orders per
    user it left out (``test_orders_left_out``). Trained on a file of this name with fewer
    left out than this run tests, its weights may have seen test orders (same file) or not
    (another file of the same name): the figures would be optimistic, so say it.

    >>> meta = {"source": "orders_dev.csv", "test_orders_left_out": 1}
    >>> overlap_warning(meta, Path("data/orders_dev.csv"), 1) is None
    True
    >>> print(overlap_warning(meta, Path("data/orders_dev.csv"), 2))  # doctest: +ELLIPSIS
    WARNING: the model was trained on orders_dev.csv with only its last 1 order(s) per user ...
    >>> overlap_warning(meta, Path("other.csv"), 2) is None
    True
    """
    left_out = meta.get("test_orders_left_out")
    if meta.get("source") != orders.name or not isinstance(left_out, int):
        return None
    if left_out >= test_orders:
        return None
    return (
        f"WARNING: the model was trained on {orders.name} with only its last {left_out} "
        f"order(s) per user left out, and this run tests the last {test_orders}: if it is "
        "this file, some test orders were training examples and the streaming figures are "
        f"optimistic. Train one with `stream-app train --test-orders {test_orders}`, or leave "
        "out --model to train on this run's training orders."
    )


def _model(args: argparse.Namespace, orders: list[Any], catalog: Any) -> tuple[LinearModel, str]:
    if args.model == "default":
        model = default_model()
        return model, f"shipped model {DEFAULT_MODEL_PATH.name}{_trained_on(model)}"
    if args.model:
        model = LinearModel.load(Path(args.model))
        return model, f"model file {args.model}{_trained_on(model)}"
    train, _ = split_test_orders(orders, args.test_orders)
    t0 = time.perf_counter()
    print(
        f"no --model: training the re-ranker on the {len(train)} training orders ...",
        file=sys.stderr,
    )
    from scorers.learn import train_model  # river is slow to import: only when training

    model, _ = train_model(train, catalog, seed=args.seed, meta={"source": str(args.orders)})
    return model, f"trained now on this file's training orders ({time.perf_counter() - t0:.1f} s)"


def _trained_on(model: LinearModel) -> str:
    source, left_out = model.meta.get("source"), model.meta.get("test_orders_left_out")
    if source is None or left_out is None:
        return ""
    return f"; trained on {Path(str(source)).name}, last {left_out} order(s) per user left out"


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the evaluation, print the table, write --json / --report."""
    from scorers.evaluation.run import evaluate
    from scorers.surfaces import load_surfaces

    resolve_inputs(args)
    if args.json:
        check_output_file(args.json, "--json")
    if args.report:
        check_output_dir(args.report, "--report")
    started = time.perf_counter()
    catalog = load_catalog(args.catalog)
    orders = read_orders(args.orders)
    model, model_note = _model(args, orders, catalog)
    warning = overlap_warning(model.meta, args.orders, args.test_orders) if args.model else None
    if warning:
        print(warning, file=sys.stderr)
    train, _ = split_test_orders(orders, args.test_orders)
    art = build_artifacts(train, catalog, model)
    online = None
    if args.online:
        from scorers.learn import RerankerLearner  # river is slow to import: only when used

        online = RerankerLearner.from_model(model, seed=args.seed, lr=ONLINE_LR)
        online.artifacts(art)
    bar = tqdm(desc="prequential", unit="ev", file=sys.stderr, mininterval=0.5)
    result = evaluate(
        orders,
        catalog,
        model=model,
        k=args.k,
        test_orders=args.test_orders,
        search_rate=args.search_rate,
        seed=args.seed,
        artifacts=art,
        online=online,
        progress=bar.update,
        on_start=lambda n: setattr(bar, "total", n),
        surfaces=load_surfaces(settings.surfaces_path),
    )
    bar.close()
    result["model_source"] = model_note
    if warning:
        result["model_warning"] = warning
    result["window_x_label"] = "days since the first test event"
    result["wall_s"] = round(time.perf_counter() - started, 1)
    print(
        f"orders: {args.orders}  users: {result['n_users']}  test cart adds: "
        f"{result['n_events']}  test orders/user: {args.test_orders}  "
        f"search rate: {args.search_rate}  seed: {args.seed}"
    )
    print(f"model: {model.version} ({model_note})")
    if warning:
        print(warning)
    print(format_table(result))
    s = result["methods"]["streaming"]
    print(
        f"rescore (MODELS['blended'], one user, k={args.k}, median {s['n_candidates_p50']:.0f} "
        f"candidates): p50 {s['rescore_ms_p50']:.3f} ms, p90 {s['rescore_ms_p90']:.3f} ms "
        f"(best of 3 per event: p50 {s['rescore_ms_p50_best_of_3']:.3f} ms; CPU time of "
        f"the call: p50 {s['rescore_cpu_ms_p50']:.3f} ms);  "
        f"wall time {result['wall_s']} s"
    )
    if result.get("surfaces"):
        print()
        print(format_surfaces(result))
        print(surface_costs(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
        print(f"wrote {args.json}")
    if args.report:
        from stream_app.tools.report import write_report

        print(f"wrote {write_report(result, args.report)}")
    return 0
