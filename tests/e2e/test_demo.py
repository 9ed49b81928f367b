"""The main job, as `make demo` runs it: real services, build, worker, replay, before/after."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid

import pytest

from stream_app.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(300)]


def test_demo_shows_answers_before_and_after_the_replayed_orders(
    live_services: Settings, tmp_path
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "STREAM_APP_WEB_PORT": str(port),
        "STREAM_APP_RECO_PREFIX": prefix,
        "STREAM_APP_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
        "STREAM_APP_KAFKA_BOOTSTRAP": live_services.kafka_bootstrap,
        "STREAM_APP_REDIS_URL": live_services.redis_url,
    }
    done = subprocess.run(
        [sys.executable, "-m", "stream_app", "demo", "--users", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    assert out.count("-- before (batch answer from history)") == 2
    assert out.count("-- during the order (basket open, rescored by the worker)") == 2
    assert out.count("-- after (rescored by the worker)") == 2
    assert "an unknown user gets the fallback" in out
    assert out.count(": stream, model") == 4  # during and after: answers from the worker
    assert "all 25 users' answers reflect their last cart add or search" in out
    assert "worker stopped (exit 0)" in out

    import redis

    client = redis.Redis.from_url(live_services.redis_url)
    try:
        client.delete(*(client.keys(f"{prefix}:*") or ["-"]))
    finally:
        client.close()
