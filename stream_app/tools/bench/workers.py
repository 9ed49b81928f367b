"""The pipeline under test: ``--workers N`` `stream-app worker` processes in one group.

Each gets its own web port, hence (static group membership, ``group_instance_id='auto'`` =
``{app_id}@{host}:{web_port}``) its own group instance id. Their ``/pipeline/stats`` counters
are read over HTTP and combined.
"""

from __future__ import annotations

import urllib.error
from dataclasses import replace
from pathlib import Path

from schemas.errors import ServiceError
from stream_app.settings import Settings
from stream_app.stack.procs import free_port
from stream_app.stack.workerproc import WorkerProcess
from stream_app.tools.bench.cost import CpuMeter
from stream_app.tools.bench.procfs import process_peak_rss

__all__ = ["Workers"]


class Workers:
    """N worker processes on ``settings`` (each with a free web port), logs in ``log_dir``."""

    def __init__(self, settings: Settings, n: int, log_dir: Path) -> None:
        self.procs = [
            WorkerProcess(
                replace(settings, web_port=free_port(settings.web_host)),
                log_dir / f"worker-{i + 1}.log",
            )
            for i in range(n)
        ]

    def start(self) -> Workers:
        """Spawn them all at once (they join the group as they come up)."""
        for proc in self.procs:
            proc.start()
        return self

    @property
    def ports(self) -> list[int]:
        """Their web ports (``GET /recommendations/{user_id}``)."""
        return [p.settings.web_port for p in self.procs]

    def problem(self) -> str | None:
        """A dead worker, named with its log; None while all run."""
        for i, proc in enumerate(self.procs, 1):
            if not proc.alive():
                code = proc.proc.returncode if proc.proc is not None else None
                return f"worker {i} exited (code {code}); see {proc.log_path}"
        return None

    def stats(self) -> list[dict[str, int]]:
        """Every worker's ``/pipeline/stats``; :class:`ServiceError` if one does not answer."""
        out = []
        for i, proc in enumerate(self.procs, 1):
            try:
                out.append(proc.stats())
            except (urllib.error.URLError, OSError, ValueError) as exc:
                raise ServiceError(
                    f"worker {i} does not answer GET /pipeline/stats ({exc}); see {proc.log_path}"
                ) from exc
        return out

    def meter(self) -> CpuMeter:
        """A CPU meter over the workers, counting the messages each has taken (events
        applied and dead letters; redeliveries, dropped, are not counted) from the CPU time
        each reports for the start of its first batch (``first_batch_cpu_ms``)."""

        def applied(proc: WorkerProcess) -> int:
            try:
                stats = proc.stats()
            except (urllib.error.URLError, OSError, ValueError):
                return 0  # not serving yet
            return int(stats.get("events", 0)) + int(stats.get("dead_letters", 0))

        def began(proc: WorkerProcess) -> float | None:
            try:
                ms = proc.stats().get("first_batch_cpu_ms")
            except (urllib.error.URLError, OSError, ValueError):
                return None
            return None if ms is None else ms / 1000

        running = [p for p in self.procs if p.proc]
        return CpuMeter(
            {p.proc.pid: (lambda p=p: applied(p)) for p in running},
            {p.proc.pid: (lambda p=p: began(p)) for p in running},
        )

    def peak_rss(self) -> list[int | None]:
        """Each worker's peak resident memory so far (bytes)."""
        return [process_peak_rss(p.proc.pid) if p.proc else None for p in self.procs]

    def stop(self) -> list[int | None]:
        """Stop them all; their exit codes."""
        return [p.stop() for p in self.procs]
