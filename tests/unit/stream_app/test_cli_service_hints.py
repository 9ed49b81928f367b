"""`get` and `replay` against services that are down: one line naming the address and the fix."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from stream_app.cli import main
from stream_app.stack.procs import free_port


def test_get_with_redis_down_is_one_line_naming_the_url_and_services_up(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    monkeypatch.setenv("STREAM_APP_REDIS_URL", url)

    code = main(["get", "1"])

    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"stream-app get: error: Redis does not answer at {url} (")
    assert "`.venv/bin/stream-app services up`" in lines[0]
    assert "STREAM_APP_REDIS_URL" in lines[0]


def test_get_hides_the_redis_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    monkeypatch.setenv("STREAM_APP_REDIS_URL", f"redis://app:s3cret@127.0.0.1:{port}/0")

    assert main(["get", "1"]) == 2

    err = capsys.readouterr().err
    assert "s3cret" not in err
    assert f"redis://app:***@127.0.0.1:{port}/0" in err


def _log(tmp_path: Path) -> Path:
    log = tmp_path / "log.jsonl"
    log.write_text('{"type": "checkout", "event_id": "e1", "user_id": 1, "ts": 1510654320000}\n')
    return log


def test_replay_with_kafka_down_says_what_it_waits_for_then_one_line_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bootstrap = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("STREAM_APP_KAFKA_BOOTSTRAP", bootstrap)

    started = time.monotonic()
    code = main(["replay", str(_log(tmp_path)), "--no-progress", "--connect-timeout", "1.5"])
    elapsed = time.monotonic() - started

    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert 1.0 < elapsed < 15, "the --connect-timeout bounds the wait"
    lines = err.strip().splitlines()
    assert len(lines) == 2, err
    assert lines[0] == f"connecting to Kafka at {bootstrap} (giving up after 1.5 s)..."
    assert lines[1].startswith(
        f"stream-app replay: error: Kafka does not answer at {bootstrap} after 1.5 s ("
    )
    assert "`.venv/bin/stream-app services up`" in lines[1]
    assert "STREAM_APP_KAFKA_BOOTSTRAP" in lines[1]


def test_replay_rejects_a_non_positive_connect_timeout_before_connecting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STREAM_APP_KAFKA_BOOTSTRAP", f"127.0.0.1:{free_port()}")

    with pytest.raises(SystemExit) as exc:
        main(["replay", str(_log(tmp_path)), "--connect-timeout", "0"])
    assert exc.value.code == 2

    err = capsys.readouterr().err
    assert err.startswith("usage: stream-app replay ")
    assert err.strip().splitlines()[-1] == (
        "stream-app replay: error: argument --connect-timeout: must be positive, got 0.0"
    )
    assert "connecting to Kafka" not in err
