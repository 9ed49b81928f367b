"""`get` and `replay` against services that are down: one line naming the address and the fix."""

from __future__ import annotations

import socket

import pytest

from stream_app.cli import main


def _closed_port() -> int:
    """A port where nothing listens (bound to get a free one, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_get_with_redis_down_is_one_line_naming_the_url_and_services_up(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"redis://127.0.0.1:{_closed_port()}/0"
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
    port = _closed_port()
    monkeypatch.setenv("STREAM_APP_REDIS_URL", f"redis://app:s3cret@127.0.0.1:{port}/0")

    assert main(["get", "1"]) == 2

    err = capsys.readouterr().err
    assert "s3cret" not in err
    assert f"redis://app:***@127.0.0.1:{port}/0" in err
