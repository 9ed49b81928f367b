"""Surfaces through the real worker (Kafka + Redis, a `stream-app worker` subprocess): every
surface key is written, an event rescores only the surfaces it touches (a search leaves
``buy_again`` byte for byte), each surface is read with ``?surface=`` and ``get --surface``,
and a Redis that lost its answers gets every surface back."""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
import redis

from loaders.catalog import load_catalog
from loaders.instacart import read_orders, split_test_orders
from schemas.events import CartAdd, Checkout, Event, Search
from schemas.recommendation import Recommendation, reco_key
from scorers import Artifacts
from stream_app.settings import Settings
from stream_app.stack.procs import free_port
from stream_app.stack.workerproc import WorkerProcess, remove_run
from stream_app.tools.replay import Pace, publish

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "instacart"
SURFACES = ("default", "buy_again", "basket", "search")


@dataclass
class Env:
    settings: Settings
    artifacts: Artifacts
    client: redis.Redis
    worker: WorkerProcess

    def key(self, user: int, surface: str) -> str:
        return reco_key(user, self.settings.reco_prefix, surface)

    def stored(self, user: int) -> dict[str, bytes]:
        """The raw bytes of every surface key of ``user`` that exists."""
        values = self.client.mget([self.key(user, s) for s in SURFACES])
        return {s: v for s, v in zip(SURFACES, values, strict=True) if v is not None}

    def send(self, events: list[Event]) -> None:
        publish(events, self.settings, pace=Pace(), progress=False)

    def wait_for(self, user: int, surface: str, event_ts: int, timeout_s: float = 30.0) -> bytes:
        """The stored bytes of ``user``'s ``surface`` once they reflect ``event_ts``."""
        deadline = time.monotonic() + timeout_s
        while True:
            raw = self.client.get(self.key(user, surface))
            if raw is not None and Recommendation.from_bytes(raw).event_ts >= event_ts:
                return raw
            assert time.monotonic() < deadline, (
                f"{self.key(user, surface)} never reflected ts={event_ts}; "
                f"worker log: {self.worker.log_path}"
            )
            assert self.worker.alive(), f"worker exited: {self.worker.log_path}"
            time.sleep(0.05)

    def http(self, path: str) -> tuple[int, dict]:
        url = f"http://127.0.0.1:{self.settings.web_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.status, orjson.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, orjson.loads(exc.read())


@pytest.fixture(scope="module")
def env(
    pipeline_settings: Callable[..., Settings], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Env]:
    from stream_app.batch import build_and_seed

    run = f"tsurf-{os.getpid()}-{int(time.time())}"
    tmp = tmp_path_factory.mktemp("surfaces")
    settings = pipeline_settings(run, tmp / "artifacts", web_port=free_port())
    catalog = load_catalog(FIXTURE)
    train, _ = split_test_orders(read_orders(FIXTURE / "orders.csv"), 1)
    build_and_seed(train, catalog, settings, progress=False)
    client = redis.Redis.from_url(settings.redis_url)
    worker = WorkerProcess(settings, tmp / "worker.log")
    try:
        worker.start()
        worker.wait_ready()
        deadline = time.monotonic() + 30
        while worker.stats().get("rebuilds", 0) < 1:  # the start-up rebuild rewrites answers
            assert time.monotonic() < deadline, f"no start-up rebuild: {worker.log_path}"
            time.sleep(0.1)
        yield Env(settings, Artifacts.load(settings.artifacts_dir), client, worker)
    finally:
        worker.stop()
        client.delete(*(client.keys(f"{settings.reco_prefix}:*") or ["-"]))
        client.close()
        remove_run(settings)


def test_build_seeds_the_default_and_buy_again_surfaces_of_known_shoppers(env: Env) -> None:
    user = env.artifacts.known_users()[0]
    stored = env.stored(user)
    assert set(stored) == {"default", "buy_again"}
    buy_again = Recommendation.from_bytes(stored["buy_again"])
    assert buy_again.source == "batch" and buy_again.surface == "buy_again" and buy_again.items
    assert b'"surface"' not in stored["default"]  # reco:{user} is the value it always was


def test_a_search_rescores_search_and_default_and_leaves_buy_again_and_basket_untouched(
    env: Env,
) -> None:
    user = env.artifacts.known_users()[1]
    t = env.artifacts.seed_state(user).last_ts + 86_400_000
    product = int(env.artifacts.popular[0])

    seeded = env.stored(user)
    env.send([CartAdd("ts-a1", user, product, t)])
    env.wait_for(user, "default", t)
    after_add = env.wait_for(user, "basket", t)
    assert set(env.stored(user)) == {"default", "buy_again", "basket"}  # no search yet
    assert env.stored(user)["buy_again"] == seeded["buy_again"]  # a cart add: not rescored

    env.send([Search("ts-s1", user, "chocolate", t + 10_000)])
    default = env.wait_for(user, "default", t + 10_000)
    search = env.wait_for(user, "search", t + 10_000)
    now = env.stored(user)
    assert now["buy_again"] == seeded["buy_again"]  # same bytes: the search did not touch it
    assert now["basket"] == after_add  # nor the basket
    assert default != seeded["default"]
    assert Recommendation.from_bytes(search).surface == "search"

    env.send([Checkout("ts-c1", user, t + 60_000)])
    bought = Recommendation.from_bytes(env.wait_for(user, "buy_again", t + 60_000))
    assert bought.source == "stream" and bought.event_ts == t + 60_000
    assert (
        Recommendation.from_bytes(env.wait_for(user, "basket", t + 60_000)).event_ts == t + 60_000
    )
    # a checkout rescores search too (its history changed), ranked at the checkout
    searched = Recommendation.from_bytes(env.wait_for(user, "search", t + 60_000))
    assert searched.event_ts == t + 60_000 and searched.items

    metrics = urllib.request.urlopen(
        f"http://127.0.0.1:{env.settings.web_port}/metrics", timeout=5
    ).read()
    assert b'stream_app_surface_rescores_total{surface="buy_again"}' in metrics


def test_surfaces_are_read_over_http_and_with_get(
    env: Env, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    user = env.artifacts.known_users()[2]
    status, body = env.http(f"/recommendations/{user}?surface=buy_again")
    assert status == 200 and body["surface"] == "buy_again" and not body["fallback"]
    assert body["items"] and body["items"][0]["name"]
    status, body = env.http(f"/recommendations/{user}?surface=basket")  # no cart add yet
    assert status == 200 and body["fallback"] and body["surface"] == "basket"
    status, body = env.http(f"/recommendations/{user}")
    assert status == 200 and body["surface"] == "default" and body["source"] == "batch"
    status, body = env.http(f"/recommendations/{user}?surface=nope")
    assert status == 400 and body["error"] == "unknown_surface"
    assert body["known"] == ["basket", "buy_again", "default", "search"]

    from stream_app.cli import main

    for name, value in {
        "STREAM_APP_REDIS_URL": env.settings.redis_url,
        "STREAM_APP_RECO_PREFIX": env.settings.reco_prefix,
        "STREAM_APP_ARTIFACTS_DIR": str(env.settings.artifacts_dir),
    }.items():
        monkeypatch.setenv(name, value)
    assert main(["get", str(user), "--surface", "buy_again", "--json"]) == 0
    got = orjson.loads(capsys.readouterr().out)
    assert got["surface"] == "buy_again" and got["source"] == "batch"
    assert main(["get", str(user), "--surface", "nope"]) == 2
    assert "unknown surface 'nope'; known: basket, buy_again, default, search" in (
        capsys.readouterr().err
    )


def test_a_redis_that_lost_its_answers_gets_every_surface_back(env: Env) -> None:
    user = env.artifacts.known_users()[3]
    t = env.artifacts.seed_state(user).last_ts + 86_400_000
    env.send([CartAdd("ts-r1", user, int(env.artifacts.popular[0]), t)])
    env.send([Search("ts-r2", user, "milk", t + 5_000)])
    env.wait_for(user, "search", t + 5_000)
    before = {s: Recommendation.from_bytes(v) for s, v in env.stored(user).items()}
    assert set(before) == set(SURFACES)

    env.client.delete(*env.client.keys(f"{env.settings.reco_prefix}:*"))  # marker included
    for surface in SURFACES:
        env.wait_for(user, surface, 0)
    after = {s: Recommendation.from_bytes(v) for s, v in env.stored(user).items()}
    assert after.keys() == before.keys()
    for surface in ("default", "search"):  # rescored on every event they saw
        assert after[surface].items == before[surface].items
