"""Replay's log reading and pacing, the worker's stop path, the consumer scheduler."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.errors import InvalidData
from schemas.events import CartAdd, Checkout, encode
from stream_app.settings import Settings
from stream_app.stack.workerproc import settings_env
from stream_app.tools.replay import LogReader, Pace
from stream_app.worker import deadletter

T = 1_500_000_000_000


def _log(tmp_path: Path, lines: list[bytes]) -> Path:
    path = tmp_path / "log.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_a_bad_line_is_an_error_naming_file_and_line(tmp_path: Path) -> None:
    path = _log(tmp_path, [encode(CartAdd("a", 1, 5, T)), b"", b'{"type":"checkout"}'])
    with pytest.raises(InvalidData, match=r"log\.jsonl:3: missing_field.*--skip-bad"):
        list(LogReader(path))


def test_skip_bad_counts_bad_lines_by_reason_and_keeps_the_good_ones(tmp_path: Path) -> None:
    path = _log(
        tmp_path, [b"{oops", encode(CartAdd("a", 1, 5, T)), b"[]", encode(Checkout("c", 1, T + 1))]
    )
    reader = LogReader(path, skip_bad=True)
    assert [e.event_id for e in reader] == ["a", "c"]
    assert reader.bad == {"malformed_json": 1, "not_an_object": 1}
    assert reader.first_bad is not None
    assert "log.jsonl:1: malformed_json" in reader.first_bad


def test_pace_follows_event_time_or_rate_or_nothing() -> None:
    assert Pace().delay_s(10, T + 10_000, T, started=0.0) == 0.0
    import time

    now = time.monotonic()
    assert Pace(speed=10).delay_s(0, T + 10_000, T, started=now) == pytest.approx(1.0, abs=0.05)
    assert Pace(rate=100).delay_s(50, T, T, started=now) == pytest.approx(0.5, abs=0.05)


def test_stop_worker_exits_without_returning(monkeypatch: pytest.MonkeyPatch) -> None:
    codes: list[int] = []

    def fake_exit(code: int) -> None:
        codes.append(code)
        raise SystemExit(code)

    monkeypatch.setattr(deadletter.os, "_exit", fake_exit)
    with pytest.raises(SystemExit):
        deadletter.stop_worker(ZeroDivisionError("bug"), "a test")
    assert codes == [deadletter.EXIT_FATAL]


def test_settings_env_round_trips_through_from_env() -> None:
    settings = Settings(app_id="x", partitions=3, model_path=None, batch_within_s=0.01)
    assert Settings.from_env(settings_env(settings)) == settings
