"""A local three-master Redis Cluster: three ``redis-server`` on consecutive ports, no replicas.

``stream-app services up --redis-cluster`` (or a ``redis+cluster://HOST:PORT`` in
``STREAM_APP_REDIS_URL``) starts nodes on PORT, PORT+1 and PORT+2 from the same
``redis-server`` as the single Redis, each with the config of :mod:`stream_app.stack.redis`
(persistence included) plus ``cluster-enabled yes``, its files under
``<state_dir>/redis-cluster/node-PORT/``. The cluster is formed from Python, as
``redis-cli --cluster create ... --cluster-replicas 0`` would: each node gets a third of the
16384 slots (``CLUSTER ADDSLOTSRANGE``) and the first one ``CLUSTER MEET`` s the others; the
nodes remember it in their ``nodes.conf``, so a restart of ``up`` finds it formed.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from schemas.errors import ServiceError
from stream_app.stack.procs import Address, OwnedProcess, read_owned, spawn, stop
from stream_app.stack.redis import RedisLayout, find_redis_server, redis_config

__all__ = [
    "NODES",
    "SLOTS",
    "ClusterLayout",
    "cluster_answers",
    "cluster_node_config",
    "form_cluster",
    "node_ports",
    "slot_ranges",
    "start_cluster_nodes",
    "stop_cluster",
]

NODES = 3
SLOTS = 16384


def slot_ranges(nodes: int = NODES) -> list[tuple[int, int]]:
    """The inclusive slot range of each master, as ``redis-cli --cluster create`` splits them.

    >>> slot_ranges(3)
    [(0, 5460), (5461, 10922), (10923, 16383)]
    >>> slot_ranges(1)
    [(0, 16383)]
    """
    per = SLOTS / nodes
    return [(round(i * per), round((i + 1) * per) - 1) for i in range(nodes)]


def node_ports(port: int, nodes: int = NODES) -> list[int]:
    """The ports of a local cluster whose first node listens on ``port``.

    >>> node_ports(17001)
    [17001, 17002, 17003]
    """
    return [port + i for i in range(nodes)]


@dataclass(frozen=True)
class ClusterLayout:
    """Where a local cluster keeps its nodes' files: one :class:`RedisLayout` per port."""

    root: Path

    def node(self, port: int) -> RedisLayout:
        """The files of the node on ``port``."""
        return RedisLayout(self.root / f"node-{port}")

    def started_ports(self) -> list[int]:
        """Ports of nodes that have a pid file (ours, maybe stopped)."""
        if not self.root.is_dir():
            return []
        return sorted(
            int(d.name.removeprefix("node-"))
            for d in self.root.glob("node-*")
            if d.name.removeprefix("node-").isdigit() and (d / "redis.pid").exists()
        )


def cluster_node_config(layout: RedisLayout, addr: Address) -> str:
    """A cluster node's ``redis.conf``: the single Redis's, plus cluster mode.

    >>> conf = cluster_node_config(RedisLayout(Path("/s/n")), Address("localhost", 17001))
    >>> "cluster-enabled yes" in conf, "port 17001" in conf, "cluster-config-file nodes" in conf
    (True, True, True)
    """
    return redis_config(layout, addr) + "\n".join(
        [
            "cluster-enabled yes",
            "cluster-config-file nodes.conf",
            "cluster-node-timeout 5000",
            "",
        ]
    )


def start_cluster_nodes(
    layout: ClusterLayout, host: str, ports: Sequence[int], say: Callable[[str], None] = print
) -> list[OwnedProcess]:
    """Start the nodes not already running (ours); the ones started."""
    binary = find_redis_server(say)
    started = []
    for port in ports:
        node = layout.node(port)
        if read_owned(node.pid_file) is not None:
            continue
        node.root.mkdir(parents=True, exist_ok=True)
        node.conf.write_text(cluster_node_config(node, Address(host, port)))
        started.append(
            spawn(
                [binary, str(node.conf.resolve())],
                log_file=node.root / "stdout.log",
                pid_file=node.pid_file,
                marker=str(node.root.resolve()),
                cwd=node.root,
            )
        )
    return started


def _client(host: str, port: int, timeout_s: float = 2.0):
    import redis

    return redis.Redis(host=host, port=port, socket_timeout=timeout_s, socket_connect_timeout=2)


def form_cluster(host: str, ports: Sequence[int], timeout_s: float = 30.0) -> None:
    """Give each node its slots and introduce them to each other, unless already done; returns
    when every node says ``cluster_state:ok``."""
    import redis

    ip = socket.gethostbyname(host)
    deadline = time.monotonic() + timeout_s
    clients = [_client(host, p) for p in ports]
    try:
        while True:  # the nodes may still be starting
            try:
                infos = [c.cluster("INFO") for c in clients]
                break
            except (redis.RedisError, OSError) as exc:
                if time.monotonic() > deadline:
                    raise ServiceError(
                        f"redis cluster nodes {list(ports)} do not answer: {exc}"
                    ) from exc
                time.sleep(0.2)
        if all(_state(i) == "ok" for i in infos):
            return
        for client, (lo, hi), info in zip(clients, slot_ranges(len(ports)), infos, strict=True):
            if _field(info, "cluster_slots_assigned") == "0":
                client.execute_command("CLUSTER ADDSLOTSRANGE", lo, hi)
        for port in ports[1:]:
            clients[0].execute_command("CLUSTER MEET", ip, port)
        while True:
            infos = [c.cluster("INFO") for c in clients]
            if all(_state(i) == "ok" for i in infos):
                return
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"redis cluster on {list(ports)} not ok in time: {[_state(i) for i in infos]}"
                )
            time.sleep(0.2)
    except redis.RedisError as exc:
        raise ServiceError(f"forming the redis cluster on {list(ports)} failed: {exc}") from exc
    finally:
        for c in clients:
            c.close()


def _field(info: object, name: str) -> str:
    """A field of ``CLUSTER INFO`` (redis-py gives a dict, or the raw text).

    >>> _field("cluster_state:ok\\r\\ncluster_slots_assigned:0\\r\\n", "cluster_slots_assigned")
    '0'
    >>> _field({"cluster_state": "fail"}, "cluster_state")
    'fail'
    """
    if isinstance(info, dict):
        return str(info.get(name, ""))
    text = info.decode() if isinstance(info, bytes) else str(info)
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key == name:
            return value.strip()
    return ""


def _state(info: object) -> str:
    return _field(info, "cluster_state")


def cluster_answers(host: str, ports: Sequence[int]) -> dict | None:
    """``{"version", "state"}`` when every node answers and the cluster is ok, else None."""
    import redis

    try:
        states = []
        version = "?"
        for port in ports:
            client = _client(host, port)
            try:
                states.append(_state(client.cluster("INFO")))
                version = str(client.info("server").get("redis_version", "?"))
            finally:
                client.close()
    except (redis.RedisError, OSError):
        return None
    if any(s != "ok" for s in states):
        return None
    return {"version": version, "state": "ok"}


def stop_cluster(layout: ClusterLayout, say: Callable[[str], None] = print) -> list[int]:
    """Stop every node of ours (pid files under ``layout``); the pids stopped."""
    stopped = []
    for port in layout.started_ports():
        node = layout.node(port)
        proc = read_owned(node.pid_file)
        if proc is None:
            continue
        stop(proc, node.pid_file, grace_s=10)
        say(f"redis-cluster: stopped node {port} (pid {proc.pid})")
        stopped.append(proc.pid)
    return stopped
