"""The wall clock, in the epoch milliseconds every Kafka timestamp and stored answer uses."""

from __future__ import annotations

import time

__all__ = ["wall_ms"]


def wall_ms() -> int:
    """Wall-clock epoch milliseconds."""
    return int(time.time() * 1000)
