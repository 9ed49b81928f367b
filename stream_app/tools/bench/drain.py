"""The drain: a consumer starts on a published backlog; events/s from the start of its first
batch to the answer that completes the backlog.

* The pipeline (:func:`watch_drain`): from the moment the first worker began its first batch
  (``first_batch_ms`` of ``/pipeline/stats``) to the end of the batch that applied the
  backlog's last event (``last_batch_ms``, once the workers count every event applied), and
  every shopper's answer reflects their last event (answer ``event_ts`` >= the shopper's last
  event time; the answers of the shoppers not done yet are polled, one ``MGET`` every
  ``poll_s``). Neither end is an answer seen: a worker's first answers can come late (events
  are held until every topic of their partition has been read past them), and an answer can
  show a shopper's last event (a checkout fetched early) while older events of theirs are
  still to come.
* A floor (:func:`watch_floor`): from the start of its first batch's write to the write of the
  batch that applied the backlog's last event, as the floor notes them itself
  (:class:`~stream_app.tools.bench.floors.FloorWriter`): it keeps no state, so its per-shopper
  values can go back in time and cannot say when it is done, and it drains in a second or two.

Both are first batch -> last answer of the backlog, so the ratios are fair. (The pipeline's
end can come up to a batch early for a shopper whose older events were fetched after their
last one, applied late in event-time order: ``late_events`` in ``/pipeline/stats``.)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import redis
from redis.exceptions import RedisError

from schemas.errors import ServiceError
from schemas.recommendation import reco_key
from stream_app.tools.bench.answers import AnswerPoller, DrainTracker
from stream_app.tools.bench.cost import CpuMeter
from stream_app.tools.bench.floors import FloorConfig, FloorProcess, progress_key
from stream_app.tools.bench.procfs import process_cpu_s

__all__ = ["DrainOutcome", "run_floor", "watch_drain", "watch_floor"]


@dataclass(frozen=True)
class DrainOutcome:
    """What a drain measured."""

    events: int
    shoppers: int
    answered: int
    """Shoppers with an answer reflecting their last event (a floor: with an answer)."""
    applied: int
    """Events the consumer applied."""
    seconds: float | None
    """First answer -> the answer that completed the backlog (writers' wall clocks)."""
    cpu: dict[str, Any]

    @property
    def events_per_s(self) -> float | None:
        """The drain rate; None if the drain did not complete (or took no time)."""
        if not self.seconds or self.applied < self.events or self.answered < self.shoppers:
            return None
        return round(self.events / self.seconds, 1)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "events": self.events,
            "shoppers": self.shoppers,
            "answered": self.answered,
            "applied": self.applied,
            "seconds": self.seconds,
            "events_per_s": self.events_per_s,
            **self.cpu,
        }


def watch_drain(
    client: redis.Redis,
    prefix: str,
    last_ts: Mapping[int, int],
    events: int,
    *,
    meter: CpuMeter,
    problem: Callable[[], str | None],
    batch_times: Callable[[], tuple[int | None, int | None]] = lambda: (None, None),
    first_timeout_s: float = 180.0,
    stall_timeout_s: float = 60.0,
    poll_s: float = 0.02,
    progress: bool = True,
) -> DrainOutcome:
    """Poll until every shopper is done and ``meter`` counts every event applied, or no first
    answer came in ``first_timeout_s``, or no new answer in ``stall_timeout_s``. ``problem()``
    names a dead worker (then :class:`ServiceError`); ``batch_times()`` the wall ms the
    workers' first batch began and their latest ended (read once at the end)."""
    from tqdm import tqdm

    tracker = DrainTracker(last_ts)
    poller = AnswerPoller(client, prefix)
    started = last_new = time.monotonic()
    waiting, applied = tracker.waiting, 0
    with tqdm(total=len(last_ts), unit="shopper", desc="pipeline", disable=not progress) as bar:
        while True:
            meter.poll()
            try:
                seen = poller.poll(waiting)
            except (RedisError, OSError) as exc:
                raise ServiceError(f"Redis stopped answering during the drain: {exc}") from exc
            now = time.monotonic()
            completed = sum(tracker.see(user, s) for user, s in seen)
            if seen:
                last_new = now
            if completed:
                bar.update(completed)
                waiting = tracker.waiting
            if not waiting:
                applied = meter.applied()
                if applied >= events:
                    break
            why = problem()
            if why is not None:
                raise ServiceError(why)
            if tracker.first_ms is None and now - started > first_timeout_s:
                break
            if tracker.first_ms is not None and now - last_new > stall_timeout_s:
                break
            time.sleep(poll_s)
    cpu = meter.finish()
    first_ms, last_ms = batch_times()
    tracker.saw_first(first_ms)
    seconds = None
    if tracker.complete and tracker.first_ms is not None and tracker.done_ms is not None:
        done_ms = max(tracker.done_ms, last_ms or 0)
        seconds = round((done_ms - tracker.first_ms) / 1000, 3)
    return DrainOutcome(
        events=events,
        shoppers=len(last_ts),
        answered=len(tracker.done),
        applied=applied or meter.applied(),
        seconds=seconds,
        cpu=cpu,
    )


def read_progress(client: redis.Redis, prefix: str) -> dict[str, Any]:
    """A floor's notes (:class:`~stream_app.tools.bench.floors.FloorWriter`); empty before any."""
    try:
        raw = client.get(progress_key(prefix))
    except (RedisError, OSError) as exc:
        raise ServiceError(f"Redis stopped answering during a floor's drain: {exc}") from exc
    return {} if raw is None else orjson.loads(raw)


def watch_floor(
    client: redis.Redis,
    floor: FloorProcess,
    shoppers: list[int],
    events: int,
    *,
    first_timeout_s: float = 120.0,
    stall_timeout_s: float = 60.0,
    poll_s: float = 0.02,
    progress: bool = True,
) -> DrainOutcome:
    """Poll a floor's progress until it applied every event (or stalled); its CPU from the
    start of its first batch."""
    from tqdm import tqdm

    prefix = floor.config.prefix
    started = last_new = time.monotonic()
    notes: dict[str, Any] = {}
    with tqdm(total=events, unit="ev", desc=f"floor {floor.module}", disable=not progress) as bar:
        while notes.get("applied", 0) < events:
            now = time.monotonic()
            fresh = read_progress(client, prefix)
            if fresh.get("applied", 0) > notes.get("applied", 0):
                bar.update(fresh["applied"] - notes.get("applied", 0))
                notes, last_new = fresh, now
                continue
            if not floor.alive():
                code = floor.proc.returncode if floor.proc is not None else None
                why = f"the {floor.module} floor exited (code {code}); see {floor.log_path}"
                raise ServiceError(why)
            if not notes and now - started > first_timeout_s:
                break
            if notes and now - last_new > stall_timeout_s:
                break
            time.sleep(poll_s)
    cpu_now = process_cpu_s(floor.pid)
    values = client.mget([reco_key(u, prefix) for u in shoppers]) if shoppers else []
    applied = notes.get("applied", 0)
    cpu: dict[str, Any] = {"cpu_s": None, "cpu_events": applied, "cpu_s_per_1k_events": None}
    if cpu_now is not None and notes.get("first_cpu_s") is not None and applied:
        used = cpu_now - notes["first_cpu_s"]
        cpu.update(cpu_s=round(used, 2), cpu_s_per_1k_events=round(used / applied * 1000, 3))
    seconds = None
    if notes:
        seconds = round((notes["last_ms"] - notes["first_ms"]) / 1000, 3)
    return DrainOutcome(
        events=events,
        shoppers=len(shoppers),
        answered=sum(v is not None for v in values),
        applied=applied,
        seconds=seconds,
        cpu=cpu,
    )


def run_floor(
    module: str,
    config: FloorConfig,
    client: redis.Redis,
    shoppers: list[int],
    events: int,
    log_path: Path,
    *,
    progress: bool = True,
) -> DrainOutcome:
    """Start a floor on the backlog, watch it drain, stop it."""
    floor = FloorProcess(module, config, log_path).start()
    try:
        return watch_floor(client, floor, shoppers, events, progress=progress)
    finally:
        floor.stop()
