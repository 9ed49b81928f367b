"""`services up/down` lifecycle on a private stack (own ports, own state dir), so that the
shared Kafka on 9092 and Redis on 6379 other tests use are never touched."""

from __future__ import annotations

import dataclasses
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.errors import ServiceError
from stream_app.stack import (
    kafka_answers,
    redis_answers,
    services_down,
    services_status,
    services_up,
)
from stream_app.stack.procs import Address, port_open, read_owned

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


@pytest.fixture
def private(settings, free_port, tmp_path) -> Iterator:
    """Settings for a stack of our own on free ports, torn down whatever the test does."""
    mine = dataclasses.replace(
        settings,
        kafka_bootstrap=f"localhost:{free_port()}",
        kafka_controller_port=free_port(),
        redis_url=f"redis://localhost:{free_port()}/0",
        state_dir=tmp_path / "state",
        partitions=2,
    )
    yield mine
    services_down(mine, say=lambda _line: None)


def _pids(state_dir: Path) -> list[int]:
    procs = [
        read_owned(state_dir / "kafka" / "kafka.pid"),
        read_owned(state_dir / "redis" / "redis.pid"),
    ]
    return [p.pid for p in procs if p is not None]


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status


def test_down_stops_everything_up_started_and_nothing_else(private):
    lines: list[str] = []
    reports = services_up(private, say=lines.append)
    assert [r.state for r in reports] == ["started", "started"], lines
    pids = _pids(private.state_dir)
    assert len(pids) == 2 and all(_alive(p) for p in pids)
    assert kafka_answers(private.kafka_bootstrap) is not None
    assert redis_answers(private.redis_url) is not None
    assert any("log:" in line for line in lines)  # says where the logs are

    down = services_down(private, say=lines.append)
    assert [r.state for r in down] == ["stopped", "stopped"]
    assert not any(_alive(p) for p in pids)
    assert not port_open(Address.parse(private.kafka_bootstrap))
    assert not port_open(Address("localhost", private.kafka_controller_port))
    assert _pids(private.state_dir) == []
    status = services_status(private, say=lines.append)
    assert [r.state for r in status] == ["absent", "absent"]
    # a second down has nothing left to stop
    assert [r.state for r in services_down(private, say=lines.append)] == ["absent", "absent"]


def test_down_leaves_services_it_did_not_start_running(live_services, tmp_path):
    # the shared services, seen from a state dir that did not start them
    other = dataclasses.replace(live_services, state_dir=tmp_path / "elsewhere")
    lines: list[str] = []
    assert [r.state for r in services_up(other, say=lines.append)] == ["reused", "reused"]
    assert any("reusing" in line for line in lines), lines
    assert [r.state for r in services_down(other, say=lines.append)] == ["absent", "absent"]
    assert kafka_answers(live_services.kafka_bootstrap) is not None
    assert redis_answers(live_services.redis_url) is not None


@pytest.fixture
def garbage_port() -> Iterator[int]:
    """A TCP server that answers every connection with bytes no Kafka/Redis client accepts."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                try:
                    conn.sendall(b"HTTP/1.0 418 I'm a teapot\r\n\r\n")
                    conn.recv(1024)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def test_kafka_port_taken_by_something_else_is_a_clear_error(private, garbage_port):
    taken = dataclasses.replace(private, kafka_bootstrap=f"localhost:{garbage_port}")
    with pytest.raises(
        ServiceError, match=f"port {garbage_port} is taken by something that is not Kafka"
    ):
        services_up(taken, say=lambda _line: None)
    assert _pids(private.state_dir) == []  # nothing was started on the way


def test_redis_port_taken_by_something_else_is_a_clear_error(live_services, tmp_path, garbage_port):
    taken = dataclasses.replace(
        live_services, redis_url=f"redis://localhost:{garbage_port}/0", state_dir=tmp_path / "s"
    )
    with pytest.raises(
        ServiceError, match=f"port {garbage_port} is taken by something that is not"
    ):
        services_up(taken, say=lambda _line: None)


def test_failed_up_stops_what_it_started_and_purge_clears_the_data(private):
    data = private.state_dir / "kafka" / "data"
    data.mkdir(parents=True)
    (data / "meta.properties").write_text("not a kafka meta file\n")
    with pytest.raises(ServiceError, match=r"kafka exited during start-up.*down --purge"):
        services_up(private, say=lambda _line: None)
    assert _pids(private.state_dir) == []  # the Redis this call had started is gone too
    assert not port_open(Address.parse(private.redis_url.split("//")[1].split("/")[0]))

    services_down(private, say=lambda _line: None, purge=True)
    assert not (private.state_dir / "kafka").exists()
    assert not (private.state_dir / "redis").exists()
