"""`stream-app worker` without built artifacts: a one-line error that says what to run."""

from __future__ import annotations

from pathlib import Path

import pytest

import stream_app.stack
from stream_app.cli import main
from stream_app.stack.procs import free_port


def test_missing_artifacts_say_run_build_first_before_kafka(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_kafka(*_a: object, **_k: object) -> None:
        raise AssertionError("topics must not be provisioned without artifacts")

    monkeypatch.setattr(stream_app.stack, "provision_topics", no_kafka)
    missing = tmp_path / "no-artifacts"
    monkeypatch.setenv("STREAM_APP_ARTIFACTS_DIR", str(missing))
    assert main(["worker", "--web-port", str(free_port())]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("stream-app worker: error: cannot load artifacts from ")
    assert str(missing) in lines[0]
    assert lines[0].endswith("run `stream-app build` first")
