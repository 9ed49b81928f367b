"""`stream-app build --orders PATH [--catalog DIR]`: batch artifacts + seeded answers in Redis."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from stream_app.commands._inputs import add_orders_and_catalog, resolve_inputs
from stream_app.commands._numbers import non_negative_int
from stream_app.commands._outputs import CREATES_PARENTS, check_output_dir
from stream_app.settings import Settings

if TYPE_CHECKING:
    from scorers import Artifacts

__all__ = ["BuildSummary", "build_and_seed", "register", "run", "seed_answers"]

DESCRIPTION = """\
From historical orders (Instacart: a merged orders CSV or a folder of the public release, see
--orders) and the catalog, compute the batch artifacts the worker loads (popularity,
co-occurrence, search index, each known user's seeded state, model) and write them to --out
(default STREAM_APP_ARTIFACTS_DIR). Then write the global fallback and a
context-free (batch) answer for every known user to Redis, in pipelined batches, so a known
user has a personalised answer before any event."""

CHUNK = 1000


@dataclass(frozen=True)
class BuildSummary:
    """What a build did."""

    users: int
    items: int
    orders: int
    answers: int
    seconds: float
    out_dir: Path


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


def build_and_seed(
    orders: Sequence,
    catalog,
    settings: Settings,
    *,
    out_dir: Path | None = None,
    progress: bool = True,
) -> BuildSummary:
    """Build and save the artifacts, then write the fallback + every known user's batch answer."""
    from scorers import LinearModel, build_artifacts

    started = time.monotonic()
    out = out_dir or settings.artifacts_dir
    model = LinearModel.load(settings.model_path) if settings.model_path else None
    artifacts = build_artifacts(orders, catalog, model)
    artifacts.save(out)
    answers = seed_answers(artifacts, settings, progress=progress)
    return BuildSummary(
        users=len(artifacts.known_users()),
        items=len(catalog),
        orders=len(orders),
        answers=answers,
        seconds=time.monotonic() - started,
        out_dir=Path(out),
    )


def seed_answers(artifacts: Artifacts, settings: Settings, *, progress: bool = True) -> int:
    """Write the fallback and every known user's batch answer to Redis (unfenced, pipelined
    ``CHUNK`` at a time); the number of user answers written. Also used by ``stream-app bench
    --log``, which seeds its own key prefix from existing artifacts."""
    from tqdm import tqdm

    from scorers import batch_recommendation, fallback
    from stream_app.sinks import RedisSink

    users = artifacts.known_users()

    async def seed() -> int:
        sink = RedisSink.from_url(settings.redis_url, settings.reco_prefix)
        written = 0
        try:
            await sink.write([fallback(artifacts, settings.k)])
            with tqdm(total=len(users), unit="user", desc="seed", disable=not progress) as bar:
                for i in range(0, len(users), CHUNK):
                    chunk = [
                        batch_recommendation(artifacts, u, settings.k) for u in users[i : i + CHUNK]
                    ]
                    answers = [r for r in chunk if r is not None]
                    await sink.write(answers)
                    written += len(answers)
                    bar.update(len(chunk))
        finally:
            await sink.close()
        return written

    return asyncio.run(seed())


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Read inputs, build, seed, summarise."""
    from schemas.catalog import load_catalog
    from schemas.instacart import read_orders, split_test_orders

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
        f"{s.out_dir}; wrote {s.answers} batch answers + the fallback to {settings.redis_url} "
        f"({settings.reco_prefix}:*)"
    )
    return 0
