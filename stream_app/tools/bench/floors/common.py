"""What both floors share: the write, the command line, and the subprocess that runs one."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson
import redis.asyncio as aioredis

from schemas.recommendation import reco_key
from stream_app.clock import wall_ms
from stream_app.stack.workerproc import stop_child, tied_popen
from stream_app.tools.bench.procfs import process_cpu_s

__all__ = [
    "FloorConfig",
    "FloorProcess",
    "FloorWriter",
    "floor_args",
    "latest_ts",
    "parse_floor_args",
    "progress_key",
]


def latest_ts(events: Iterable[Any]) -> dict[int, int]:
    """Each shopper's latest ``ts`` among decoded events (JSON objects).

    >>> latest_ts([{"user_id": 7, "ts": 5}, {"user_id": 8, "ts": 1}, {"user_id": 7, "ts": 3}])
    {7: 5, 8: 1}
    """
    latest: dict[int, int] = {}
    for event in events:
        user, ts = event["user_id"], event["ts"]
        if ts > latest.get(user, 0):
            latest[user] = ts
    return latest


def progress_key(prefix: str) -> str:
    """Where a floor notes its progress (user keys end in a number, this one does not).

    >>> progress_key("bench-1-bare")
    'bench-1-bare:progress'
    """
    return f"{prefix}:progress"


class FloorWriter:
    """A floor's one write per batch, one pipelined round trip: a small value per distinct
    shopper (``updated_at`` stamped just before the write, as the worker's sink does), and
    the floor's progress (:func:`progress_key`): events applied so far, when the first and
    the latest batch were written, and the process's CPU seconds when the first began.

    A floor keeps no state, so a shopper's value may go back in time (a batch holding their
    older cart adds after one that held their checkout: the topics are fetched independently);
    the bench therefore measures a floor by its own notes, from its first write to the write
    of the batch that applied the last event of the backlog."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self.applied = 0
        self.first_ms: int | None = None
        self.first_cpu_s: float | None = None

    async def write(self, values: Sequence[bytes]) -> None:
        """Decode a batch and write it."""
        if self.first_ms is None:
            self.first_cpu_s = process_cpu_s(os.getpid())
        latest = latest_ts(orjson.loads(v) for v in values)
        now = wall_ms()
        self.first_ms = self.first_ms or now
        self.applied += len(values)
        pipe = self.client.pipeline(transaction=False)
        for user, ts in latest.items():
            value = orjson.dumps({"event_ts": ts, "updated_at": now, "source": "floor"})
            pipe.set(reco_key(user, self.prefix), value)
        progress = {
            "applied": self.applied,
            "first_ms": self.first_ms,
            "last_ms": now,
            "first_cpu_s": self.first_cpu_s,
        }
        pipe.set(progress_key(self.prefix), orjson.dumps(progress))
        await pipe.execute()


@dataclass(frozen=True)
class FloorConfig:
    """Where a floor reads and writes, and how it batches (the worker's batch settings)."""

    bootstrap: str
    redis_url: str
    topics: tuple[str, ...]
    group: str
    prefix: str
    partitions: int
    batch_max: int
    within_s: float
    fetch_max_wait_ms: int
    datadir: Path


def floor_args(config: FloorConfig) -> list[str]:
    """The command line of a floor subprocess (parsed back by :func:`parse_floor_args`).

    >>> c = FloorConfig("k:9092", "redis://r/0", ("a", "b"), "g", "p", 8, 500, 0.05, 100,
    ...                 Path("/tmp/d"))
    >>> parse_floor_args(floor_args(c)) == c
    True
    """
    return [
        f"--bootstrap={config.bootstrap}",
        f"--redis-url={config.redis_url}",
        f"--topics={','.join(config.topics)}",
        f"--group={config.group}",
        f"--prefix={config.prefix}",
        f"--partitions={config.partitions}",
        f"--batch-max={config.batch_max}",
        f"--within-s={config.within_s}",
        f"--fetch-max-wait-ms={config.fetch_max_wait_ms}",
        f"--datadir={config.datadir}",
    ]


def parse_floor_args(argv: Sequence[str] | None = None) -> FloorConfig:
    """A floor's :class:`FloorConfig` from its command line."""
    p = argparse.ArgumentParser(description="a bench floor (started by `stream-app bench`)")
    for name in ("bootstrap", "redis-url", "topics", "group", "prefix", "datadir"):
        p.add_argument(f"--{name}", required=True)
    for name in ("partitions", "batch-max", "fetch-max-wait-ms"):
        p.add_argument(f"--{name}", type=int, required=True)
    p.add_argument("--within-s", type=float, required=True)
    a = p.parse_args(argv)
    return FloorConfig(
        a.bootstrap,
        a.redis_url,
        tuple(a.topics.split(",")),
        a.group,
        a.prefix,
        a.partitions,
        a.batch_max,
        a.within_s,
        a.fetch_max_wait_ms,
        Path(a.datadir),
    )


class FloorProcess:
    """``python -m stream_app.tools.bench.floors.<module>`` as a child that dies with the bench."""

    def __init__(self, module: str, config: FloorConfig, log_path: Path) -> None:
        self.module = module
        self.config = config
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        """The child's pid (once started)."""
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> FloorProcess:
        """Spawn the floor."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self.proc = tied_popen(
            [sys.executable, "-m", f"stream_app.tools.bench.floors.{self.module}", *self.args()],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        return self

    def args(self) -> list[str]:
        """The child's arguments."""
        return floor_args(self.config)

    def alive(self) -> bool:
        """Whether the child is running."""
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout_s: float = 20.0) -> int | None:
        """SIGTERM (SIGKILL after ``timeout_s``); the exit code."""
        code = stop_child(self.proc, timeout_s)
        if self._log is not None:
            self._log.close()
            self._log = None
        return code
