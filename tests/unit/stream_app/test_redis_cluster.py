"""Pure helpers of the Redis Cluster support: URLs, clients, slots, node configs, run ids."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest
from redis.asyncio.cluster import RedisCluster as AsyncCluster
from redis.cluster import RedisCluster

from schemas.errors import ConfigError
from stream_app.redisconn import (
    async_client,
    cluster_url,
    is_cluster_client,
    is_cluster_url,
    plain_url,
    sync_client,
)
from stream_app.serving.reader import Reader
from stream_app.settings import Settings
from stream_app.stack.procs import Address
from stream_app.stack.redis import RedisLayout
from stream_app.stack.rediscluster import (
    SLOTS,
    ClusterLayout,
    cluster_node_config,
    node_ports,
    slot_ranges,
)
from stream_app.worker.rematerialise import cluster_run_id


@pytest.mark.parametrize(
    ("url", "cluster", "plain"),
    [
        ("redis://localhost:6379/0", False, "redis://localhost:6379/0"),
        ("rediss://h:6380/2", False, "rediss://h:6380/2"),
        ("unix:///tmp/r.sock", False, "unix:///tmp/r.sock"),
        ("redis+cluster://localhost:17001", True, "redis://localhost:17001"),
        ("redis+cluster://localhost:17001/", True, "redis://localhost:17001"),
        ("redis+cluster://localhost:17001/0", True, "redis://localhost:17001"),
        ("rediss+cluster://user:pw@h:7000", True, "rediss://user:pw@h:7000"),
    ],
)
def test_cluster_urls(url: str, cluster: bool, plain: str) -> None:
    assert is_cluster_url(url) is cluster
    assert plain_url(url) == plain


def test_a_cluster_url_with_another_database_is_refused() -> None:
    with pytest.raises(ConfigError, match="database 0 only"):
        plain_url("redis+cluster://localhost:17001/3")


def test_settings_accept_a_cluster_url() -> None:
    url = "redis+cluster://localhost:17001"
    assert Settings.from_env({"STREAM_APP_REDIS_URL": url}).redis_url == url
    with pytest.raises(ConfigError, match="redis\\+cluster://HOST:PORT"):
        Settings.from_env({"STREAM_APP_REDIS_URL": "cluster://localhost:17001"})


def test_clients_follow_the_url_without_connecting() -> None:
    # RedisCluster.from_url connects at once (to learn the slots); only the types are checked
    # for the single Redis, and the cluster classes by is_cluster_client on bare instances
    single = sync_client("redis://localhost:1/0")
    assert not is_cluster_client(single) and not isinstance(single, RedisCluster)
    assert not is_cluster_client(async_client("redis://localhost:1/0"))
    assert is_cluster_client(object.__new__(RedisCluster))
    assert is_cluster_client(object.__new__(AsyncCluster))
    assert Reader(single).cluster is False
    single.close()


def test_cluster_url_of_a_local_node() -> None:
    assert cluster_url("localhost", 17001) == "redis+cluster://localhost:17001"


@pytest.mark.parametrize("nodes", [1, 2, 3, 5])
def test_slot_ranges_cover_every_slot_once(nodes: int) -> None:
    ranges = slot_ranges(nodes)
    assert len(ranges) == nodes
    assert ranges[0][0] == 0 and ranges[-1][1] == SLOTS - 1
    for (_, hi), (lo, _) in pairwise(ranges):
        assert lo == hi + 1


def test_node_ports_are_consecutive() -> None:
    assert node_ports(7000, 3) == [7000, 7001, 7002]


def test_cluster_node_config_is_the_single_config_plus_cluster_mode(tmp_path: Path) -> None:
    layout = RedisLayout(tmp_path / "node-17001")
    conf = cluster_node_config(layout, Address("localhost", 17001))
    lines = conf.splitlines()
    assert "port 17001" in lines and "appendonly yes" in lines
    assert "cluster-enabled yes" in lines and "cluster-config-file nodes.conf" in lines
    assert f"dir {layout.root.resolve()}" in lines


def test_cluster_layout_lists_nodes_with_pid_files(tmp_path: Path) -> None:
    layout = ClusterLayout(tmp_path / "redis-cluster")
    assert layout.started_ports() == []
    for port in (17002, 17001):
        layout.node(port).root.mkdir(parents=True)
        layout.node(port).pid_file.write_text("{}")
    (tmp_path / "redis-cluster" / "node-x").mkdir()
    layout.node(17003).root.mkdir()  # no pid file: not started by us
    assert layout.started_ports() == [17001, 17002]
    assert layout.node(17001).root.name == "node-17001"


def test_cluster_run_id_changes_when_any_master_restarts() -> None:
    before = {"a:1": {"run_id": "r1"}, "b:2": {"run_id": "r2"}, "c:3": {"run_id": "r3"}}
    after = {**before, "b:2": {"run_id": "r9"}}
    assert cluster_run_id(before) == "r1,r2,r3"
    assert cluster_run_id(after) != cluster_run_id(before)
    assert cluster_run_id(dict(reversed(list(before.items())))) == cluster_run_id(before)
