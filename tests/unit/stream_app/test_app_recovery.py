"""The app's Faust configuration against the recovery hang after a rebalance.

A fetch pending from before a rebalance can hand back (and Faust then drop) the changelog
records fetched right after it; recovery must seek the changelog only once that fetch has
timed out, or the dropped records are never read again (see :mod:`stream_app.app`).
"""

from __future__ import annotations

import inspect
import re
from dataclasses import replace
from pathlib import Path

import faust.transport.consumer

from stream_app.app import RECOVERY_DELAY_S, create_app
from stream_app.settings import Settings
from stream_app.sinks import MemorySink


def _fetch_timeout_s() -> float:
    """The timeout of the fetch Faust's fetcher keeps pending (``getmany(timeout=...)``)."""
    source = inspect.getsource(faust.transport.consumer.Consumer._drain_messages)
    found = re.findall(r"getmany\(timeout=([0-9.]+)\)", source)
    assert len(found) == 1, found
    return float(found[0])


def test_recovery_waits_out_a_fetch_pending_from_before_the_rebalance(
    artifacts, tmp_path: Path
) -> None:
    assert _fetch_timeout_s() + 0.5 <= RECOVERY_DELAY_S
    settings = replace(Settings(), state_dir=tmp_path, app_id="t-recovery-delay")
    app = create_app(settings, artifacts=artifacts, sink=MemorySink())
    assert app.conf.stream_recovery_delay == RECOVERY_DELAY_S
    assert app.tables.recovery.recovery_delay == RECOVERY_DELAY_S
