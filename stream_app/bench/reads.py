"""Reads while the paced phase runs: ``--readers`` client threads ask for random shoppers'
answers, alternately through the serving library (:class:`stream_app.serving.Reader`: one
``MGET``) and over HTTP (a worker's ``GET /recommendations/{user_id}``, keep-alive, the
workers in turn), at ``--read-rate`` reads/s in all (0: each thread as fast as it can).

The threads run in a child process of their own (``python -m stream_app.bench.reads PLAN.json``,
the results as JSON on stdout), so that their latencies are not the bench's own GIL contention
with its producer and poller.
"""

from __future__ import annotations

import http.client
import random
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from schemas.errors import ServiceError
from stream_app.bench.measures import summary
from stream_app.workerproc import tied_popen

__all__ = ["ReadPlan", "Readers", "read_for", "tally"]


@dataclass(frozen=True)
class ReadPlan:
    """What the readers do."""

    redis_url: str
    prefix: str
    users: tuple[int, ...]
    http: tuple[tuple[str, int], ...]
    """``(host, port)`` of each worker."""
    readers: int
    seconds: float
    rate: float
    """Reads per second of all readers together; 0 = unpaced."""
    seed: int = 0


@dataclass
class Tally:
    """One kind of read: latencies (ms) and failures."""

    ms: list[float]
    errors: int = 0
    first_error: str | None = None

    def failed(self, why: str) -> None:
        """Count a failed read."""
        self.errors += 1
        self.first_error = self.first_error or why


def tally(kind: Tally, seconds: float) -> dict[str, Any]:
    """The JSON of one kind of read: count, rate, percentiles (ms), errors.

    >>> t = tally(Tally([1.0, 2.0, 3.0], errors=1, first_error="HTTP 503"), 2.0)
    >>> t["reads"], t["per_s"], t["ms"]["p50"], t["errors"], t["first_error"]
    (3, 1.5, 2.0, 1, 'HTTP 503')
    """
    return {
        "reads": len(kind.ms),
        "per_s": round(len(kind.ms) / seconds, 1) if seconds > 0 else None,
        "ms": summary(kind.ms, digits=2),
        "errors": kind.errors,
        "first_error": kind.first_error,
    }


def read_for(plan: ReadPlan) -> dict[str, Any]:
    """Run the reader threads for ``plan.seconds``; latencies of each kind."""
    library, http_ = Tally([]), Tally([])
    threads = [
        threading.Thread(target=_reader, args=(plan, i, library, http_), daemon=True)
        for i in range(plan.readers)
    ]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.monotonic() - started
    return {
        "readers": plan.readers,
        "target_per_s": plan.rate,
        "seconds": round(seconds, 1),
        "library": tally(library, seconds),
        "http": tally(http_, seconds),
    }


def _reader(plan: ReadPlan, index: int, library: Tally, http_: Tally) -> None:
    from stream_app.serving import Reader

    rng = random.Random(plan.seed * 1_000 + index)
    reader = Reader.from_url(plan.redis_url, plan.prefix)
    conns = [http.client.HTTPConnection(host, port, timeout=10) for host, port in plan.http]
    interval = plan.readers / plan.rate if plan.rate > 0 else 0.0
    now = time.monotonic()
    deadline, due, n = now + plan.seconds, now + interval * index / plan.readers, index
    try:
        while (now := time.monotonic()) < deadline:
            if interval:
                if due > now:
                    time.sleep(due - now)
                due = max(due + interval, now)  # late: no burst to catch up
            user = rng.choice(plan.users)
            if n % 2 == 0 or not conns:
                _timed(library, lambda u=user: reader.get(u))
            else:
                conn = conns[(n // 2) % len(conns)]
                _timed(http_, lambda c=conn, u=user: _http_get(c, u))
            n += 1
    finally:
        reader.close()
        for conn in conns:
            conn.close()


def _http_get(conn: http.client.HTTPConnection, user: int) -> None:
    try:
        conn.request("GET", f"/recommendations/{user}")
        response = conn.getresponse()
        response.read()
    except (OSError, http.client.HTTPException):
        conn.close()  # the next request reconnects
        raise
    if response.status != 200:
        raise ServiceError(f"HTTP {response.status}")


def _timed(kind: Tally, read: Any) -> None:
    started = time.perf_counter()
    try:
        read()
    except (ServiceError, OSError, http.client.HTTPException) as exc:
        kind.failed(f"{type(exc).__name__}: {exc}"[:200])
        return
    kind.ms.append((time.perf_counter() - started) * 1000)


class Readers:
    """The reader child process: ``Readers(plan, path).start()``, later ``.result()``."""

    def __init__(self, plan: ReadPlan, plan_path: Path) -> None:
        self.plan = plan
        self.plan_path = plan_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> Readers:
        """Write the plan, spawn the child."""
        self.plan_path.parent.mkdir(parents=True, exist_ok=True)
        self.plan_path.write_bytes(orjson.dumps(asdict(self.plan)))
        self.proc = tied_popen(
            [sys.executable, "-m", "stream_app.bench.reads", str(self.plan_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        return self

    def result(self, timeout_s: float = 60.0) -> dict[str, Any]:
        """Wait for the child's results; :class:`ServiceError` if it failed."""
        assert self.proc is not None
        try:
            out, err = self.proc.communicate(timeout=self.plan.seconds + timeout_s)
        except subprocess.TimeoutExpired as exc:
            self.proc.kill()
            self.proc.communicate()
            raise ServiceError("the readers did not finish in time") from exc
        if self.proc.returncode != 0:
            tail = err.decode(errors="replace").strip().splitlines()[-3:]
            raise ServiceError(f"the readers failed (exit {self.proc.returncode}): {tail}")
        return orjson.loads(out)

    def stop(self) -> None:
        """Kill the child if it still runs (the bench is ending early)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def _plan(raw: bytes) -> ReadPlan:
    obj = orjson.loads(raw)
    obj["users"] = tuple(obj["users"])
    obj["http"] = tuple(tuple(hp) for hp in obj["http"])
    return ReadPlan(**obj)


if __name__ == "__main__":
    sys.stdout.buffer.write(orjson.dumps(read_for(_plan(Path(sys.argv[1]).read_bytes()))))
