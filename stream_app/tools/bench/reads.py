"""Reads while the paced phase runs: ``--readers`` client threads ask for random shoppers'
answers, half of them through the serving library (:class:`stream_app.serving.Reader`: one
``MGET``), half over HTTP (``GET /recommendations/{user_id}`` of a ``stream-app serve`` process,
keep-alive), at ``--read-rate`` reads/s in all (0: each thread as fast as it can).

Each thread waits for its answer before its next read (a closed loop): a read that stalls
delays the thread's next one instead of piling more up, so under stalls the percentiles
understate what open arrivals would see; the achieved rate (``per_s``) shows how far below
the asked rate the readers fell.

The threads run in a child process of their own (``python -m stream_app.tools.bench.reads
PLAN.json``,
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
from stream_app.stack.workerproc import tied_popen
from stream_app.tools.bench.measures import summary

__all__ = ["ReadPlan", "Readers", "kinds_of", "read_for", "tally"]


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


def kinds_of(index: int, readers: int) -> tuple[str, ...]:
    """What reader ``index`` reads through: half the readers the library, half HTTP (an odd
    one the library), so a slow HTTP answer never delays a library read; a lone reader
    alternates.

    >>> [kinds_of(i, 4) for i in range(4)], kinds_of(0, 1)
    ([('library',), ('http',), ('library',), ('http',)], ('library', 'http'))
    """
    if readers == 1:
        return ("library", "http")
    return ("library",) if index % 2 == 0 else ("http",)


def _reader(plan: ReadPlan, index: int, library: Tally, http_: Tally) -> None:
    from stream_app.serving import Reader

    rng = random.Random(plan.seed * 1_000 + index)
    reader = Reader.from_url(plan.redis_url, plan.prefix)
    conns = [http.client.HTTPConnection(host, port, timeout=10) for host, port in plan.http]
    kinds = kinds_of(index, plan.readers) if conns else ("library",)
    interval = plan.readers / plan.rate if plan.rate > 0 else 0.0
    start = time.monotonic()
    deadline, next_at, n = start + plan.seconds, start + interval * index / plan.readers, 0
    try:
        while (now := time.monotonic()) < deadline:
            if next_at > now:
                time.sleep(next_at - now)
            user = rng.choice(plan.users)
            if kinds[n % len(kinds)] == "library":
                _timed(library, lambda u=user: reader.get(u))
            else:
                conn = conns[n % len(conns)]
                _timed(http_, lambda c=conn, u=user: _http_get(c, u))
            n += 1
            # late (a slow read): go on from now, skipping the missed slots rather than
            # bursting to catch up; the achieved rate says how many were skipped
            next_at = max(next_at + interval, time.monotonic())
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
            [sys.executable, "-m", "stream_app.tools.bench.reads", str(self.plan_path)],
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
