"""`services status` names an address mismatch between our running service and the settings."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from schemas.errors import ConfigError, ServiceError
from stream_app.settings import Settings
from stream_app.stack import services_status, services_up
from stream_app.stack.kafka import KafkaLayout
from stream_app.stack.procs import free_port, read_owned, spawn, stop
from stream_app.stack.redis import RedisLayout


@pytest.fixture
def ours(tmp_path: Path):
    """A process of ours recorded in both pid files (nothing listens anywhere)."""
    state = tmp_path / "state"
    klayout, rlayout = KafkaLayout(state / "kafka"), RedisLayout(state / "redis")
    klayout.root.mkdir(parents=True)
    rlayout.root.mkdir(parents=True)
    marker = str(tmp_path)
    argv = [sys.executable, "-c", "import time; time.sleep(60)", marker]
    kproc = spawn(argv, log_file=tmp_path / "k.log", pid_file=klayout.pid_file, marker=marker)
    rproc = spawn(argv, log_file=tmp_path / "r.log", pid_file=rlayout.pid_file, marker=marker)
    # a child counts as ours once it runs its own command line (a loaded machine may still be
    # between fork and exec; asking read_owned then would drop the pid file as stale)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(
        marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
        for pid in (kproc.pid, rproc.pid)
    ):
        time.sleep(0.05)
    yield state, klayout, rlayout, kproc.pid, rproc.pid
    for layout in (klayout, rlayout):
        proc = read_owned(layout.pid_file)
        if proc is not None:
            stop(proc, layout.pid_file, grace_s=5)


def _distinct_free_ports(n: int) -> list[int]:
    """``n`` different free ports (the OS may hand the same free port out twice in a row)."""
    ports: list[int] = []
    while len(ports) < n:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def test_status_says_where_ours_runs_when_the_settings_point_elsewhere(ours) -> None:
    state, klayout, rlayout, kpid, rpid = ours
    started_k, started_r, configured_k, configured_r = _distinct_free_ports(4)
    klayout.properties.write_text(f"advertised.listeners=PLAINTEXT://localhost:{started_k}\n")
    rlayout.conf.write_text(f"port {started_r}\nbind 127.0.0.1 -::1\n")
    settings = Settings(
        state_dir=state,
        kafka_bootstrap=f"localhost:{configured_k}",
        redis_url=f"redis://localhost:{configured_r}/0",
    )
    lines: list[str] = []
    reports = services_status(settings, say=lines.append)
    assert lines[0] == (
        f"kafka: ours (pid {kpid}) runs at localhost:{started_k}, "
        f"but STREAM_APP_KAFKA_BOOTSTRAP is localhost:{configured_k}"
    )
    assert lines[1] == (
        f"redis: ours (pid {rpid}) runs at localhost:{started_r}, "
        f"but STREAM_APP_REDIS_URL is redis://localhost:{configured_r}/0"
    )
    assert not any(r.answering for r in reports)


def test_status_at_the_recorded_address_still_says_it_does_not_answer_yet(ours) -> None:
    state, klayout, rlayout, kpid, _ = ours
    port = free_port()
    klayout.properties.write_text(f"advertised.listeners=PLAINTEXT://localhost:{port}\n")
    rlayout.conf.write_text(f"port {free_port()}\n")
    settings = Settings(
        state_dir=state,
        kafka_bootstrap=f"127.0.0.1:{port}",
        redis_url=f"redis://localhost:{free_port()}/0",
    )
    lines: list[str] = []
    services_status(settings, say=lines.append)
    assert lines[0] == (
        f"kafka: pid {kpid} (ours) is running but does not answer yet at 127.0.0.1:{port}"
    )


def test_up_refuses_other_addresses_than_ours_runs_at(ours) -> None:
    # `up` would otherwise wait for a service that is not there, or start a second broker on
    # the same data dir
    state, klayout, rlayout, kpid, _ = ours
    started = free_port()
    klayout.properties.write_text(f"advertised.listeners=PLAINTEXT://localhost:{started}\n")
    rlayout.conf.write_text(f"port {free_port()}\n")
    configured = free_port()
    settings = Settings(state_dir=state, kafka_bootstrap=f"localhost:{configured}")
    with pytest.raises(ServiceError) as err:
        services_up(settings, say=lambda _line: None)
    assert str(err.value).startswith(
        f"kafka: ours (pid {kpid}) already runs at localhost:{started}, "
        f"but STREAM_APP_KAFKA_BOOTSTRAP is localhost:{configured}; "
    )
    assert read_owned(klayout.pid_file) is not None  # ours was left alone


def test_a_controller_port_equal_to_the_broker_port_is_a_config_error(tmp_path: Path) -> None:
    port = free_port()
    settings = Settings(
        state_dir=tmp_path / "state",
        kafka_bootstrap=f"localhost:{port}",
        kafka_controller_port=port,
        redis_url=f"redis://localhost:{free_port()}/0",
    )
    with pytest.raises(ConfigError, match="needs a port of its own"):
        services_up(settings, say=lambda _line: None)
