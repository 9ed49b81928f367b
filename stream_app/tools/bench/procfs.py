"""A process's CPU time and peak memory, read from ``/proc`` (Linux)."""

from __future__ import annotations

import os

from stream_app.tools.bench.measures import cpu_seconds, peak_rss_bytes

__all__ = ["process_cpu_s", "process_peak_rss"]

_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds a process used so far (clock-tick resolution, the same for
    every process measured); None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return cpu_seconds(f.read(), _TICKS)
    except OSError:
        return None


def process_peak_rss(pid: int) -> int | None:
    """Peak resident memory of a running process, in bytes; None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return peak_rss_bytes(f.read())
    except OSError:
        return None
