"""The Redis `services up` starts persists like a production one: a private server (own port,
own state dir) keeps what it acknowledged across a kill -9 and a restart."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable

import pytest

from stream_app.stack.procs import Address, port_open, stop
from stream_app.stack.redis import RDB_FILE, RedisLayout, redis_answers, start_redis

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _until(check: Callable[[], object], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_our_redis_keeps_acknowledged_writes_across_a_kill_9(tmp_path, free_port) -> None:
    import redis

    layout = RedisLayout(tmp_path / "redis")
    addr = Address("localhost", free_port())
    url = f"redis://localhost:{addr.port}/0"
    quiet: Callable[[str], None] = lambda _line: None  # noqa: E731
    proc = start_redis(layout, addr, quiet)
    try:
        _until(lambda: redis_answers(url), "redis never answered")
        client = redis.Redis.from_url(url)
        try:
            config = client.config_get("*")
            assert config["appendonly"] == "yes" and config["appendfsync"] == "everysec"
            assert config["save"] == "3600 1 300 100 60 10000"
            assert config["dir"] == str(layout.root.resolve())
            client.set("answer", b"kept")
            client.bgsave()
            _until(lambda: (layout.root / RDB_FILE).exists(), "no RDB snapshot in the state dir")
        finally:
            client.close()

        os.kill(proc.pid, signal.SIGKILL)  # no shutdown save: only the AOF can bring it back
        with contextlib.suppress(ChildProcessError):
            os.waitpid(proc.pid, 0)  # our child: collect it
        _until(lambda: not port_open(addr, timeout_s=0.2), "the killed redis still listens")
        (layout.root / RDB_FILE).unlink()
        proc = start_redis(layout, addr, quiet)
        _until(lambda: redis_answers(url), "the restarted redis never answered")
        client = redis.Redis.from_url(url)
        try:
            assert client.get("answer") == b"kept"
        finally:
            client.close()
    finally:
        stop(proc, layout.pid_file, grace_s=10)
