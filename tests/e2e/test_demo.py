"""The main job, as `make demo` runs it: real services, build, worker, replay, before/after."""

from __future__ import annotations

import os
import re
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
    run = uuid.uuid4().hex[:8]
    prefix = f"e2e-demo-{run}"
    own_prefix = f"e2e-own-{run}"  # stands for a user's own build, which the demo must not touch
    own_artifacts = tmp_path / "own-artifacts"
    own_artifacts.mkdir()
    (own_artifacts / "sentinel").write_text("mine")
    env = {
        **os.environ,
        "STREAM_APP_WEB_PORT": str(port),
        "STREAM_APP_RECO_PREFIX": own_prefix,
        "STREAM_APP_ARTIFACTS_DIR": str(own_artifacts),
        "STREAM_APP_STATE_DIR": str(tmp_path / "state"),
        "STREAM_APP_KAFKA_BOOTSTRAP": live_services.kafka_bootstrap,
        "STREAM_APP_REDIS_URL": live_services.redis_url,
    }
    done = subprocess.run(
        [sys.executable, "-m", "stream_app", "demo", "--users", "2", "--prefix", prefix],
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
    # curated output: a sentence about the worker, UTC event times, no raw dicts or epoch ms
    assert re.search(r"worker: \d+ events applied in \d+ batches, \d+ answers written", out)
    assert "{'events'" not in out and "ts=" not in out
    assert re.search(r"reflects events up to 2017-\d\d-\d\d \d\d:\d\d:\d\d UTC", out)
    demo_artifacts = tmp_path / "state" / "demo" / "artifacts"
    assert (
        f"STREAM_APP_RECO_PREFIX={prefix} STREAM_APP_ARTIFACTS_DIR={demo_artifacts} "
        ".venv/bin/stream-app get " in out
    )

    # the demo wrote to its own artifacts folder and key prefix, never to the user's
    assert sorted(p.name for p in own_artifacts.iterdir()) == ["sentinel"]
    assert any(demo_artifacts.iterdir())
    import redis

    client = redis.Redis.from_url(live_services.redis_url)
    try:
        assert client.keys(f"{own_prefix}:*") == []
        demo_keys = client.keys(f"{prefix}:*")
        assert f"{prefix}:fallback".encode() in demo_keys
        assert len(demo_keys) > 25  # the fallback and every sample user's answer
        client.delete(*demo_keys)
    finally:
        client.close()
