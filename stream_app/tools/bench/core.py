"""The pure core's cost per event, in one process: no Kafka, no Faust, no Redis.

``python -m stream_app.tools.bench.core --orders CSV --catalog DIR`` builds artifacts from each
shopper's orders except their last ``--last-orders`` (as ``stream-app bench`` does), turns
those last orders into events (synthetic searches at ``--search-rate``), orders them as a
store's traffic (:func:`stream_app.tools.bench.traffic.interleave`, or ``--grouped``) and feeds them
to a :class:`~stream_app.worker.pipeline.Pipeline` in batches of ``--batch`` messages on a dict
table:
observe → decode → update → write back → rank → write (an in-memory sink). The messages look
like the worker's: JSON bytes keyed by user on the three input topics, partitioned by the
producers' murmur2, with offsets and append times as if published at ``--publish-rate`` before
the drain, and the frontier told of every record, so held events settle as in a real drain.

Prints events/s, events per rescore, ms per step, the rescores and ranking time per surface
(every declared surface, or ``--surfaces default``: the default one only, the worker as it was
before surfaces), and a digest of every default answer written (items, scores, reasons,
event_ts, seq): two runs computing the same answers print the same digest.
Rerun it before and after a change to the core; profile it with ``py-spy record -- python -m
stream_app.tools.bench.core ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from schemas.events import Event, encode
from schemas.keys import user_key
from schemas.recommendation import DEFAULT_SURFACE, Recommendation
from scorers import Artifacts
from scorers.surfaces import Surface, load_surfaces
from stream_app.tools.bench import traffic
from stream_app.worker.frontier import Frontier
from stream_app.worker.pipeline import Incoming, Pipeline, feature_config
from stream_app.worker.sinks import MemorySink

__all__ = ["CoreRun", "build_core", "last_answers", "main", "messages_for", "run_core"]

STEPS = ("observe", "decode", "update", "write_back", "rank", "write")
TOPICS = {"cart_add": "cart-adds", "search": "searches", "checkout": "checkouts"}


@dataclass
class CoreRun:
    """What one run measured: events, answers, seconds per step, the answers' digest."""

    events: int = 0
    batches: int = 0
    answers: int = 0
    """Shoppers rescored (one default answer each)."""
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STEPS, 0.0))
    surfaces: dict[str, tuple[int, float]] = field(default_factory=dict)
    """Per surface: answers ranked and seconds its model took."""
    digest: str = ""
    last: dict[int, Recommendation] = field(default_factory=dict, repr=False)
    """Each user's last answer."""

    @property
    def busy(self) -> float:
        """Seconds spent in all steps."""
        return sum(self.seconds.values())

    def lines(self) -> list[str]:
        """The one-screen report."""
        busy = self.busy
        out = [
            f"core: {self.events:,} events in {self.batches:,} batches -> {self.answers:,} "
            f"answers ({self.events / max(self.answers, 1):.2f} events per rescore)",
            f"  {self.events / busy:,.0f} events/s, {busy * 1e6 / max(self.events, 1):.0f} us "
            f"per event, {busy * 1e3 / max(self.answers, 1):.3f} ms per rescore "
            f"(busy {busy:.2f} CPU s)",
        ]
        for step in STEPS:
            s = self.seconds[step]
            out.append(f"  {step:<10} {s * 1e3:9.0f} ms  {s / busy:6.1%}")
        for name, (n, s) in self.surfaces.items():
            out.append(
                f"  surface {name:<10} {n:7,} rescores {s * 1e3:7.0f} ms  "
                f"{s * 1e6 / max(self.events, 1):5.0f} us per event"
            )
        out.append(f"  answers digest {self.digest}")
        return out


def messages_for(
    events: Sequence[Event], *, partitions: int = 8, publish_rate: float = 17_000.0
) -> list[Incoming]:
    """The records a worker would consume for ``events`` published in this order: each on its
    type's topic, keyed by user, in the murmur2 partition of its key, with increasing offsets
    per partition and append times ``publish_rate`` records a second apart."""
    from stream_app.worker.store import partition_of

    offsets: dict[tuple[str, int], int] = {}
    out = []
    start = 1_800_000_000_000
    for i, event in enumerate(events):
        key = user_key(event.user_id)
        topic, part = TOPICS[event.type], partition_of(key, partitions)
        offset = offsets.get((topic, part), 0)
        offsets[(topic, part)] = offset + 1
        appended = start + int(i * 1000 / publish_rate)
        out.append(Incoming(topic, part, offset, key, encode(event), appended))
    return out


def build_core(
    orders_path: Path, catalog_dir: Path, *, last_orders: int, search_rate: float, seed: int
) -> tuple[Artifacts, list[Event]]:
    """Artifacts from all but each shopper's last ``last_orders`` orders, and those orders'
    events (as ``stream-app bench`` builds its backlog)."""
    from loaders.catalog import load_catalog
    from loaders.instacart import read_orders, split_test_orders
    from scorers import build_artifacts
    from stream_app.tools.replay import recent_events

    catalog = load_catalog(catalog_dir)
    orders = read_orders(orders_path)
    history, recent = split_test_orders(orders, last_orders)
    events = recent_events(orders, recent, catalog, search_rate=search_rate, seed=seed)
    # through save/load, so seeds and arrays are exactly what a worker maps
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        build_artifacts(history, catalog).save(Path(tmp))
        return Artifacts.load(Path(tmp)), events


def run_core(
    artifacts: Artifacts,
    messages: Sequence[Incoming],
    *,
    batch: int = 500,
    k: int = 10,
    session_gap_ms: int = 3_600_000,
    surfaces: Sequence[Surface] | None = None,
) -> CoreRun:
    """Feed ``messages`` through a fresh :class:`Pipeline` in batches of ``batch``; time each
    step. Fading notes are kept as the worker keeps them (``Pipeline.write``); ``surfaces``:
    the declared ones by default."""
    sink = MemorySink(fenced=True)
    frontier = Frontier(TOPICS.values())
    pipe = Pipeline(
        artifacts,
        sink,
        config=feature_config(artifacts, session_gap_ms),
        k=k,
        frontier=frontier,
        surfaces=surfaces,
    )
    table: dict[bytes, bytes] = {}
    run = CoreRun()
    digest = hashlib.sha256()
    sec = run.seconds
    loop = asyncio.new_event_loop()
    clock = time.process_time  # CPU seconds: steadier than wall time on a shared machine
    try:
        for lo in range(0, len(messages), batch):
            chunk = messages[lo : lo + batch]
            t0 = clock()
            pipe.observe(chunk)
            t1 = clock()
            decoded, _ = pipe.decode(chunk)
            t2 = clock()
            touched, _ = pipe.update(table, decoded)
            t3 = clock()
            pipe.write_back(table, touched)
            t4 = clock()
            answers = pipe.rank(touched, surfaces=pipe.dispatch(decoded, touched))
            t5 = clock()
            loop.run_until_complete(pipe.write(answers, touched))
            t6 = clock()
            for step, spent in zip(
                STEPS, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5), strict=True
            ):
                sec[step] += spent
            run.batches += 1
            run.events += len(chunk)
            default = [r for r in answers if r.surface == DEFAULT_SURFACE]
            run.answers += len(default)
            _digest(digest, default)
            run.last.update((r.user_id, r) for r in default if r.user_id is not None)
    finally:
        loop.close()
    run.digest = digest.hexdigest()[:16]
    run.surfaces = {
        s.name: (pipe.stats[f"rescored_{s.name}"], pipe.stats[f"rank_us_{s.name}"] / 1e6)
        for s in pipe.surfaces
    }
    return run


def last_answers(run: CoreRun) -> dict[int, Recommendation]:
    """Each user's last default answer of ``run`` (what Redis would hold at ``reco:{user}``)."""
    return dict(run.last)


def _digest(h: hashlib._Hash, answers: Sequence[Recommendation]) -> None:
    for reco in answers:
        h.update(repr((reco.user_id, reco.items, reco.event_ts, reco.seq)).encode())


def _cold(artifacts: Artifacts) -> Artifacts:
    """The same artifacts with empty memos (each run starts as a fresh worker does)."""
    from dataclasses import replace

    from scorers.queryindex import new_query_memo
    from scorers.userview import new_view_memo

    return replace(artifacts, views=new_view_memo(), queries=new_query_memo())


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (see the module docstring)."""
    p = argparse.ArgumentParser(
        prog="python -m stream_app.tools.bench.core",
        description="The pure core's cost per event on a store's traffic (no services).",
    )
    p.add_argument("--orders", type=Path, required=True, metavar="CSV")
    p.add_argument("--catalog", type=Path, required=True, metavar="DIR")
    p.add_argument("--last-orders", type=int, default=10)
    p.add_argument("--search-rate", type=float, default=0.3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=500, help="messages per batch (500)")
    p.add_argument("--grouped", action="store_true", help="shopper by shopper")
    p.add_argument("--repeat", type=int, default=1, help="runs, each on fresh state (1)")
    p.add_argument(
        "--surfaces",
        choices=("all", "default"),
        default="all",
        help="rescore every declared surface (all) or the default one only, as before surfaces",
    )
    args = p.parse_args(argv)
    started = time.perf_counter()
    artifacts, events = build_core(
        args.orders,
        args.catalog,
        last_orders=args.last_orders,
        search_rate=args.search_rate,
        seed=args.seed,
    )
    order = traffic.grouped if args.grouped else traffic.interleave
    messages = messages_for(order(events))
    print(f"built in {time.perf_counter() - started:.1f} s: {len(messages):,} events")
    for _ in range(args.repeat):
        surfaces = load_surfaces()
        if args.surfaces == "default":
            surfaces = surfaces[:1]  # the default surface comes first
        run = run_core(_cold(artifacts), messages, batch=args.batch, surfaces=surfaces)
        print("\n".join(run.lines()))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
