"""`stream-app scale`: many shoppers' state through the real worker, and what it costs.

The shoppers are synthetic, with real histories: shopper ``i`` is a copy of the ``i mod R``-th
of the ``R`` shoppers of ``--orders`` (their seeded state from the real batch build, under a new
user id), so history lengths are those of the file. Each gets ``--events`` cart adds of products
from that history, published to the run's own topics and folded by one worker process with the
chosen table store. Then:

* **state**: worker RSS (now and peak), the worker's data folder on disk, the seeds file, and the
  table's bytes per shopper (read from the stopped worker's RocksDB databases);
* **restarts**: ``kill -9`` and restart, then a clean stop (SIGTERM) and restart; each timed
  from spawning the new process to ``/readyz`` answering 200, and to the first new event
  answered (a probe checkout).

The run's Redis prefix gets only the fallback: the shoppers' batch answers are not seeded (a
million rescorings that are ``stream-app build``'s cost, not the worker's), and the answer
marker is set so the worker does not rebuild them either. Everything of the run (topics, group,
keys, data folder) is removed at the end unless ``--keep``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from schemas.events import CartAdd, Event
from scorers import Artifacts
from stream_app.settings import Settings

__all__ = ["ScaleResult", "clone_seed", "run_scale", "synthetic_events"]

CLONE_BASE = 10_000_000_000
"""Synthetic shoppers' ids start here (far from real ids)."""
DAY_MS = 86_400_000


@dataclass
class ScaleResult:
    """The figures of one run (``None`` where a step did not run)."""

    store: str
    shoppers: int
    events: int
    publish_s: float
    drain_s: float
    events_per_s: float
    rss_mb: float
    peak_rss_mb: float
    data_mb: float
    seeds_mb: float
    table_keys: int | None = None
    table_bytes_median: float | None = None
    table_bytes_mean: float | None = None
    kill_ready_s: float | None = None
    kill_answer_s: float | None = None
    clean_ready_s: float | None = None
    clean_answer_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return asdict(self)


def clone_seed(raw: bytes, user_id: int) -> bytes:
    """A serialised seed state under another user id (the format's second field).

    >>> from features.state import UserState
    >>> clone = clone_seed(UserState(7, last_ts=5, basket=(3,)).to_bytes(), 12)
    >>> UserState.from_bytes(clone) == UserState(12, last_ts=5, basket=(3,))
    True
    """
    first = raw.index(b",")
    second = raw.index(b",", first + 1)
    return raw[: first + 1] + str(user_id).encode() + raw[second:]


def cloned_seeds(art: Artifacts, n: int) -> Iterator[tuple[int, bytes]]:
    """``n`` synthetic shoppers' seeds in ascending id, cycling through the known users."""
    originals = [art.states[u] for u in art.known_users()]
    for i in range(n):
        yield CLONE_BASE + i, clone_seed(originals[i % len(originals)], CLONE_BASE + i)


def synthetic_events(art: Artifacts, n: int, per_shopper: int) -> Iterator[Event]:
    """Each synthetic shopper's cart adds: products of their history, a day after it ends."""
    originals = []
    for u in art.known_users():
        state = art.seed_state(u)
        assert state is not None
        pids = [int(p) for p in state.history.pid] or [int(art.popular[0])]
        originals.append((state.last_ts + DAY_MS, pids))
    for i in range(n):
        start, pids = originals[i % len(originals)]
        uid = CLONE_BASE + i
        for j in range(per_shopper):
            yield CartAdd(f"scale-{uid}-{j}", uid, pids[j % len(pids)], start + j * 60_000)


def _rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0)


def _du_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 1024 / 1024
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):  # a file removed meanwhile
                total += (Path(root) / name).stat().st_size
    return total / 1024 / 1024


def table_sizes(settings: Settings) -> list[int]:
    """Value sizes of a stopped worker's RocksDB table (every partition database)."""
    from stream_app.worker.app import tabledir
    from stream_app.worker.store import read_stopped

    return [len(v) for p in read_stopped(tabledir(settings)).values() for v in p.values.values()]


def _restart(worker_factory: Callable[[str], Any], name: str) -> tuple[Any, float, float]:
    """Spawn a worker; (worker, seconds to /readyz 200, seconds to a probe answered)."""
    started = time.monotonic()
    worker = worker_factory(name).start()
    url = f"http://{worker.settings.web_host}:{worker.settings.web_port}/readyz"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if not worker.alive():
            raise RuntimeError(f"the worker exited; see {worker.log_path}")
        time.sleep(0.05)
    ready = time.monotonic() - started
    worker.wait_ready(timeout_s=600)
    return worker, round(ready, 1), round(time.monotonic() - started, 1)


def run_scale(
    orders: Path,
    catalog: Path,
    base: Settings,
    *,
    shoppers: int,
    per_shopper: int,
    store: str,
    restarts: bool = True,
    keep: bool = False,
    say: Callable[[str], None] = print,
) -> ScaleResult:
    """Build, publish, drain, measure and restart (see the module docstring)."""
    import redis

    from loaders.catalog import load_catalog
    from loaders.instacart import read_orders
    from schemas.recommendation import reco_key
    from scorers import build_artifacts, fallback
    from scorers.seeds import write_seeds
    from stream_app.stack import provision_topics
    from stream_app.stack.workerproc import WorkerProcess
    from stream_app.tools.bench.namespace import cleanup, mark_complete, new_run_id, run_dir
    from stream_app.tools.replay import Pace, publish
    from stream_app.worker.app import datadir

    run = new_run_id().replace("bench-", "scale-")
    folder = run_dir(base, run)
    settings = replace(
        base.isolated(run, folder / "artifacts"), table_store=store, group_instance_id="auto"
    )
    client = redis.Redis.from_url(settings.redis_url)
    worker = None
    try:
        t0 = time.monotonic()
        real = build_artifacts(read_orders(orders), load_catalog(catalog))
        real.save(settings.artifacts_dir)  # its seeds are replaced by the clones' below
        say(f"built artifacts from {len(real.states):,} shoppers in {time.monotonic() - t0:.1f} s")
        t0 = time.monotonic()
        write_seeds(settings.artifacts_dir, cloned_seeds(real, shoppers))
        seeds_mb = _du_mb(settings.artifacts_dir / "states.bin")
        say(
            f"wrote {shoppers:,} shoppers' seeds ({seeds_mb:,.0f} MB) in "
            f"{time.monotonic() - t0:.1f} s"
        )
        art = Artifacts.load(settings.artifacts_dir)
        client.set(reco_key(None, settings.reco_prefix), fallback(art, settings.k).to_bytes())
        mark_complete(client, settings.reco_prefix, settings.partitions)
        provision_topics(settings)

        def new_worker(name: str) -> WorkerProcess:
            return WorkerProcess(settings, folder / "logs" / f"{name}.log")

        n_events = shoppers * per_shopper
        say(f"publishing {n_events:,} events ({per_shopper} per shopper) ...")
        t0 = time.monotonic()
        publish(
            synthetic_events(real, shoppers, per_shopper),
            settings,
            pace=Pace(),
            total=n_events,
            progress=False,
        )
        publish_s = time.monotonic() - t0
        say(f"published in {publish_s:.1f} s; one worker drains them ...")
        t_drain = last_say = time.monotonic()
        worker = new_worker("worker").start()
        while True:
            try:
                stats = worker.stats()
            except OSError:  # its web server is not up yet
                stats = {"events": 0, "dead_letters": 0}
            done = stats["events"] + stats["dead_letters"]
            if done >= n_events:
                break
            if not worker.alive():
                raise RuntimeError(f"the worker exited; see {worker.log_path}")
            if time.monotonic() - last_say > 15:
                last_say = time.monotonic()
                rss, _ = _rss_mb(worker.proc.pid)
                rate = done / (last_say - t_drain)
                say(f"  {done:,}/{n_events:,} events ({rate:,.0f}/s), worker RSS {rss:,.0f} MB")
            time.sleep(0.5)
        drain_s = time.monotonic() - t_drain
        rss, peak = _rss_mb(worker.proc.pid)
        result = ScaleResult(
            store=store,
            shoppers=shoppers,
            events=n_events,
            publish_s=round(publish_s, 1),
            drain_s=round(drain_s, 1),
            events_per_s=round(n_events / drain_s),
            rss_mb=round(rss),
            peak_rss_mb=round(peak),
            data_mb=round(_du_mb(datadir(settings))),
            seeds_mb=round(seeds_mb),
        )
        say(
            f"drained in {drain_s:.1f} s; RSS {rss:,.0f} MB (peak {peak:,.0f} MB), "
            f"data {result.data_mb:,} MB"
        )
        if restarts:
            worker.proc.kill()
            worker.proc.wait()
            worker.stop()
            worker, result.kill_ready_s, result.kill_answer_s = _restart(new_worker, "after-kill")
            say(
                f"kill -9 + restart: ready in {result.kill_ready_s:.1f} s, answering in "
                f"{result.kill_answer_s:.1f} s"
            )
            worker.stop(timeout_s=120)
            worker, result.clean_ready_s, result.clean_answer_s = _restart(new_worker, "clean")
            say(
                f"clean stop + restart: ready in {result.clean_ready_s:.1f} s, answering in "
                f"{result.clean_answer_s:.1f} s"
            )
        worker.stop(timeout_s=120)
        worker = None
        if store == "rocksdb":
            sizes = table_sizes(settings)
            result.table_keys = len(sizes)
            result.table_bytes_median = round(statistics.median(sizes)) if sizes else 0
            result.table_bytes_mean = round(statistics.fmean(sizes)) if sizes else 0
            result.data_mb = round(_du_mb(datadir(settings)))
        return result
    finally:
        if worker is not None:
            worker.stop()
        if not keep:
            cleanup(settings, client, say)
            shutil.rmtree(folder / "artifacts", ignore_errors=True)
        client.close()


def format_result(r: ScaleResult) -> str:
    """The result as a short screen."""

    def s(x: float | None) -> str:
        return "-" if x is None else f"{x:,.1f} s"

    lines = [
        f"shoppers           {r.shoppers:,} ({r.events:,} events, table store {r.store})",
        f"drain              {r.events_per_s:,} events/s ({r.drain_s:,.1f} s; published in "
        f"{r.publish_s:,.1f} s)",
        f"worker RSS         {r.rss_mb:,.0f} MB after the drain, peak {r.peak_rss_mb:,.0f} MB",
        f"on disk            worker data {r.data_mb:,.0f} MB; seeds {r.seeds_mb:,.0f} MB",
    ]
    if r.table_keys is not None:
        lines.append(
            f"table              {r.table_keys:,} shoppers, {r.table_bytes_median:,.0f} B median "
            f"/ {r.table_bytes_mean:,.0f} B mean per shopper"
        )
    lines.append(
        f"kill -9 + restart  ready {s(r.kill_ready_s)}, first new answer {s(r.kill_answer_s)}"
    )
    lines.append(
        f"clean restart      ready {s(r.clean_ready_s)}, first new answer {s(r.clean_answer_s)}"
    )
    return "\n".join(lines)
