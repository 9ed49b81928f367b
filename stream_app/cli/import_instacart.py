"""`stream-app import-instacart`: turn Instacart orders into a replayable event log."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm

from loaders.catalog import load_catalog
from loaders.instacart import Order, orders_to_events, read_orders, split_test_orders
from schemas.errors import InvalidData
from schemas.events import Event, Search, encode
from stream_app.cli._inputs import add_orders_and_catalog, resolve_inputs
from stream_app.cli._numbers import fraction, non_negative_int, positive_int
from stream_app.cli._outputs import add_event_log_out, check_output_file
from stream_app.settings import Settings
from stream_app.tools.replay import recent_events

__all__ = ["register", "run", "summarize"]

DESCRIPTION = """\
Convert Instacart orders (a merged orders CSV in orders_dev.csv format, or a folder of the
public release: see --orders) into a JSON-lines event log that
`stream-app replay` publishes and `stream-app eval` reads. Each order becomes one cart_add per
product (in add_to_cart_order order, 30 s apart) and one checkout 60 s after the last add.
Times are synthesised from order_dow, order_hour_of_day and days_since_prior_order (day 0 is
2017-01-01 UTC; see loaders/instacart.py). With --search-rate R, each cart add is preceded with
probability R by a synthetic search ("synthetic": true) for that product, e.g. "yogurt".
The same inputs and --seed always give the same log."""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `import-instacart` subcommand."""
    p = sub.add_parser(
        "import-instacart",
        help="convert Instacart orders into an event log (JSON lines)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_orders_and_catalog(p)
    add_event_log_out(p)
    p.add_argument(
        "--search-rate",
        type=fraction,
        default=0.0,
        metavar="R",
        help="probability of a synthetic search before each cart add, 0..1 "
        "(default: 0, no searches)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="S",
        help="seed of the synthetic searches (default: 0)",
    )
    p.add_argument(
        "--users",
        type=positive_int,
        default=None,
        metavar="N",
        help="only the first N users (smallest user ids); default: all",
    )
    p.add_argument(
        "--test-orders",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="export only each user's last N orders, the ones `build --test-orders N` left "
        "out, timed as the continuation of the user's history (default: 0, all orders)",
    )
    p.set_defaults(func=run)


def _select_users(orders: list[Order], n_users: int | None) -> list[Order]:
    if n_users is None:
        return orders
    keep = set(sorted({o.user_id for o in orders})[:n_users])
    return [o for o in orders if o.user_id in keep]


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%MZ")


def summarize(orders: list[Order], events: list[Event]) -> str:
    """A short human summary of a conversion (users, orders, events by type, time span)."""
    by_type = Counter(e.type for e in events)
    synthetic = sum(1 for e in events if isinstance(e, Search) and e.synthetic)
    rows = [
        ("users", f"{len({o.user_id for o in orders}):,}"),
        ("orders", f"{len(orders):,}"),
        ("events", f"{len(events):,}"),
        *(
            (f"  {kind}", f"{by_type.get(kind, 0):,}")
            for kind in ("cart_add", "search", "checkout")
        ),
        ("synthetic searches", f"{synthetic:,}"),
    ]
    if events:
        first, last = events[0].ts, events[-1].ts
        days = (last - first) / 86_400_000
        rows.append(("time span", f"{_iso(first)} .. {_iso(last)} ({days:.1f} days)"))
    lines = [f"{label:<20}{value}" for label, value in rows]
    return "\n".join(lines)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Read the catalog and orders, convert, write the log, print a summary."""
    resolve_inputs(args)
    check_output_file(args.out, "--out")
    t0 = time.perf_counter()
    catalog = load_catalog(args.catalog)
    orders = _select_users(read_orders(args.orders), args.users)
    t1 = time.perf_counter()
    if args.test_orders:
        # timed as a continuation of each user's history, not restarting their clock
        _, test = split_test_orders(orders, args.test_orders)
        events = recent_events(orders, test, catalog, search_rate=args.search_rate, seed=args.seed)
        orders = test
    else:
        events = orders_to_events(orders, catalog, search_rate=args.search_rate, seed=args.seed)
    t2 = time.perf_counter()
    out: Path = args.out
    tmp = out.with_name(out.name + ".tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("wb") as fh:
            for event in tqdm(
                events, desc="writing events", unit="ev", file=sys.stderr, mininterval=0.5
            ):
                fh.write(encode(event) + b"\n")
        os.replace(tmp, out)
    except OSError as exc:
        raise InvalidData(f"{out}: cannot write the event log ({exc.strerror})") from exc
    t3 = time.perf_counter()
    print(summarize(orders, events))
    print(f"{'took':<20}read {t1 - t0:.2f} s, convert {t2 - t1:.2f} s, write {t3 - t2:.2f} s")
    print(f"wrote {out}")
    return 0
