"""`services up` only reports "started" when the service answering is the one it started.

Two ``up`` on the same ports with different state dirs can both find a port closed and both
start a server; the loser's server fails to bind while the winner answers. The start and probe
functions are faked here (the "server" we start is a sleeping Python process, the winner is a
plain listening socket), so the decision is tested without Kafka or Redis.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.errors import ServiceError
from stream_app.services import stack
from stream_app.services.kafka import KafkaLayout, own_cluster_id
from stream_app.services.procs import OwnedProcess, port_lock, read_owned, spawn, stop
from stream_app.services.redis import RedisLayout
from stream_app.settings import Settings

_GIVEN: set[int] = set()  # never the same port twice: the OS may hand a released one out again


def _free_port() -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port


@pytest.mark.parametrize(
    ("alive", "expected", "reported", "verdict"),
    [
        (True, "abc", "abc", "ours"),
        (False, "abc", "abc", "dead"),
        (True, "abc", "xyz", "foreign"),
        (False, "abc", "xyz", "foreign"),
        (True, 4242, 4242, "ours"),
        (True, 4242, 17, "foreign"),
        (True, None, "xyz", "foreign"),  # we cannot tell what ours would say: not provably ours
        (True, "abc", None, "foreign"),
    ],
)
def test_ownership_decision(alive: bool, expected: object, reported: object, verdict: str) -> None:
    assert stack.ownership(alive, expected, reported) == verdict


def test_own_cluster_id_reads_meta_properties(tmp_path: Path) -> None:
    layout = KafkaLayout(tmp_path / "kafka")
    assert own_cluster_id(layout) is None
    layout.data.mkdir(parents=True)
    (layout.data / "meta.properties").write_text(
        "#\n#Thu Nov 27 10:00:00 UTC 2026\nnode.id=1\nversion=1\ncluster.id=Q1w2E3r4T5y6\n"
    )
    assert own_cluster_id(layout) == "Q1w2E3r4T5y6"


@pytest.fixture
def race(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """Fakes for one ``up`` that loses the race on both ports.

    "Starting" a service spawns a sleeping process of ours (recorded in the pid file, as the
    real start does) and, at the same moment, the winner starts listening on the port.
    """
    kport, rport = _free_port(), _free_port()
    winners: list[socket.socket] = []
    spawned: dict[str, OwnedProcess] = {}
    env = {"kafka_id": "loser-id", "redis_pid": None}

    def occupy(port: int) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", port))
        sock.listen()
        winners.append(sock)

    def sleeper(name: str, pid_file: Path, root: Path, port: int) -> OwnedProcess:
        root.mkdir(parents=True, exist_ok=True)
        marker = str(root.resolve())
        proc = spawn(
            [sys.executable, "-c", "import time; time.sleep(60)", marker],
            log_file=root / "stdout.log",
            pid_file=pid_file,
            marker=marker,
        )
        spawned[name] = proc
        occupy(port)
        return proc

    def fake_start_kafka(layout: KafkaLayout, *_args: object, **_kw: object) -> OwnedProcess:
        layout.data.mkdir(parents=True, exist_ok=True)
        (layout.data / "meta.properties").write_text("cluster.id=loser-id\nnode.id=1\n")
        return sleeper("kafka", layout.pid_file, layout.root, kport)

    def fake_start_redis(layout: RedisLayout, *_args: object, **_kw: object) -> OwnedProcess:
        return sleeper("redis", layout.pid_file, layout.root, rport)

    def kafka_probe(_bootstrap: str, *_a: object, **_k: object) -> dict:
        return {"cluster_id": env["kafka_id"]}

    def redis_probe(_url: str, *_a: object, **_k: object) -> dict:
        pid = env["redis_pid"] or spawned["redis"].pid
        return {"version": "7.0.15", "process_id": pid}

    monkeypatch.setattr(stack, "find_redis_server", lambda _say: "/usr/bin/redis-server")
    monkeypatch.setattr(stack, "resolve_jars", lambda *_a: tmp_path / "libs")
    monkeypatch.setattr(stack, "start_kafka", fake_start_kafka)
    monkeypatch.setattr(stack, "start_redis", fake_start_redis)
    monkeypatch.setattr(stack, "kafka_answers", kafka_probe)
    monkeypatch.setattr(stack, "redis_answers", redis_probe)
    monkeypatch.setattr(stack, "topic_partitions", lambda _bootstrap: {})
    settings = Settings(
        state_dir=tmp_path / "state",
        kafka_bootstrap=f"localhost:{kport}",
        kafka_controller_port=_free_port(),
        redis_url=f"redis://localhost:{rport}/0",
        service_timeout_s=10.0,
    )
    yield {"settings": settings, "env": env, "spawned": spawned, "kport": kport, "rport": rport}
    for sock in winners:
        sock.close()
    for proc in spawned.values():
        if proc.alive():
            stop(proc, tmp_path / "cleanup.pid", grace_s=5)


def test_up_says_started_when_the_answering_services_are_ours(race: dict) -> None:
    race["env"]["kafka_id"] = "loser-id"  # our own data dir's cluster id: we won
    lines: list[str] = []
    reports = stack.services_up(race["settings"], say=lines.append, topics=False)
    assert [r.state for r in reports] == ["started", "started"], lines
    assert all(p.alive() for p in race["spawned"].values())


def test_up_that_lost_the_kafka_port_fails_and_leaves_nothing_behind(race: dict) -> None:
    race["env"]["kafka_id"] = "winner-id"  # another broker (other state dir) answers
    lines: list[str] = []
    with pytest.raises(ServiceError) as err:
        stack.services_up(race["settings"], say=lines.append, topics=False)
    message = str(err.value)
    assert "\n" not in message
    assert f"port {race['kport']}" in message and "took it meanwhile" in message
    assert "another stream-app" in message
    assert not any("kafka: started" in line for line in lines), lines
    state = race["settings"].state_dir
    assert not race["spawned"]["kafka"].alive()
    assert not race["spawned"]["redis"].alive()  # the whole failed `up` is undone
    assert read_owned(state / "kafka" / "kafka.pid") is None
    assert not (state / "kafka" / "kafka.pid").exists()
    assert not (state / "redis" / "redis.pid").exists()


def test_up_that_lost_the_redis_port_fails_and_names_it(race: dict) -> None:
    race["env"]["redis_pid"] = 1  # the Redis answering is another process
    lines: list[str] = []
    with pytest.raises(ServiceError, match=rf"port {race['rport']}.*took it meanwhile"):
        stack.services_up(race["settings"], say=lines.append, topics=False)
    assert not any("redis: started" in line for line in lines), lines
    assert not race["spawned"]["redis"].alive()
    assert not (race["settings"].state_dir / "redis" / "redis.pid").exists()


def test_status_does_not_call_a_foreign_answer_ours(race: dict) -> None:
    race["env"]["kafka_id"] = "loser-id"
    stack.services_up(race["settings"], say=lambda _line: None, topics=False)
    race["env"]["kafka_id"] = "winner-id"
    race["env"]["redis_pid"] = 1
    lines: list[str] = []
    reports = stack.services_status(race["settings"], say=lines.append)
    kpid, rpid = race["spawned"]["kafka"].pid, race["spawned"]["redis"].pid
    assert lines[0].startswith(f"kafka: ours (pid {kpid}) does not answer at localhost:")
    assert lines[1].startswith(f"redis: ours (pid {rpid}) does not answer at redis://localhost:")
    assert [r.state for r in reports] == ["reused", "reused"]


def test_port_lock_is_exclusive_across_threads() -> None:
    port = _free_port()
    got = threading.Event()

    def second() -> None:
        with port_lock([port]):
            got.set()

    with port_lock([port, _free_port()]):
        thread = threading.Thread(target=second, daemon=True)
        thread.start()
        time.sleep(0.3)
        assert not got.is_set()  # the second `up` waits while the first checks and starts
    assert got.wait(5)
    thread.join(5)
