"""Pid-file safety and one-line errors of the services plumbing (no Kafka/Redis needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from schemas.errors import ServiceError
from stream_app.stack import redis as redis_service
from stream_app.stack.procs import read_owned, spawn, stop


def _write_pid_file(path: Path, pid: int, start_time: str, marker: str) -> None:
    path.write_text(json.dumps({"pid": pid, "start_time": start_time, "marker": marker}))


def test_pid_file_of_a_process_that_is_not_ours_is_ignored_and_dropped(tmp_path):
    # this very pytest process is alive, but does not mention the marker: never "ours"
    pid_file = tmp_path / "x.pid"
    stat = Path(f"/proc/{os.getpid()}/stat").read_text().rsplit(")", 1)[1].split()
    _write_pid_file(pid_file, os.getpid(), stat[19], str(tmp_path / "not-in-my-cmdline"))
    assert read_owned(pid_file) is None
    assert not pid_file.exists()


def test_pid_file_with_a_recycled_pid_is_ignored(tmp_path):
    pid_file = tmp_path / "x.pid"
    _write_pid_file(pid_file, os.getpid(), "1", "python")  # wrong start time
    assert read_owned(pid_file) is None


def test_spawned_process_is_ours_until_stopped(tmp_path):
    marker = str(tmp_path / "sleeper-marker")
    pid_file = tmp_path / "sleeper.pid"
    proc = spawn(
        [sys.executable, "-c", "import time, sys; time.sleep(60)", marker],
        log_file=tmp_path / "sleeper.log",
        pid_file=pid_file,
        marker=marker,
    )
    try:
        assert read_owned(pid_file) == proc
        assert stop(proc, pid_file, grace_s=5) is False  # SIGTERM was enough
        assert read_owned(pid_file) is None and not proc.alive()
    finally:
        if proc.alive():
            os.kill(proc.pid, 9)


def test_missing_redis_server_without_root_says_what_to_install(monkeypatch):
    monkeypatch.setattr(redis_service.shutil, "which", lambda _name: None)
    monkeypatch.setattr(redis_service.os, "geteuid", lambda: 1000)
    with pytest.raises(ServiceError, match="redis-server is not on PATH: install"):
        redis_service.find_redis_server(say=lambda _line: None)


def test_services_cli_help_explains_each_action():
    done = subprocess.run(
        [sys.executable, "-m", "stream_app", "services", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for action in ("up ", "down ", "status "):
        assert action in done.stdout
