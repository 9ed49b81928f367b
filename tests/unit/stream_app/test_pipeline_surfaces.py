"""The worker's steps with surfaces, without Faust: each batch rescores only the surfaces its
events touch, all of them in the batch's one sink write."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from features import DEFAULT_CONFIG, reorder
from loaders.instacart import split_test_orders
from schemas.events import CartAdd, Checkout, Event, Search, encode
from schemas.keys import user_key
from schemas.recommendation import Recommendation, reco_key
from scorers import Artifacts, batch_recommendation
from scorers.surface_models import MODELS
from scorers.surfaces import batch_answers
from stream_app.tools.replay import recent_events
from stream_app.worker import pipeline as pipeline_module
from stream_app.worker.pipeline import Incoming, Pipeline, replay_surfaces
from stream_app.worker.sinks import MemorySink

SURFACES = ("default", "buy_again", "basket", "search")


class CountingSink(MemorySink):
    def __init__(self) -> None:
        super().__init__(fenced=True)
        self.writes: list[list[tuple[int | None, str]]] = []

    async def write(self, batch: Sequence[Recommendation]) -> None:
        self.writes.append([(r.user_id, r.surface) for r in batch])
        await super().write(batch)


async def _batch(pipeline: Pipeline, table: dict, events: list[Event], offset: int) -> None:
    """The score task's steps (app.py) on one batch."""
    messages = [
        Incoming(f"{e.type}s", 0, offset + i, user_key(e.user_id), encode(e))
        for i, e in enumerate(events)
    ]
    decoded, _ = pipeline.decode(messages)
    touched, _ = pipeline.update(table, decoded)
    pipeline.write_back(table, touched)
    await pipeline.write(
        pipeline.rank(touched, surfaces=pipeline.dispatch(decoded, touched)), touched
    )


def _seeded(artifacts: Artifacts, sink: MemorySink, user: int) -> None:
    """What `stream-app build` writes for ``user``."""
    for reco in batch_answers(artifacts, [user], pipeline_module.load_surfaces(), 10, MODELS):
        sink.data[reco_key(user, surface=reco.surface)] = reco.to_bytes()


async def test_each_batch_rescores_only_the_surfaces_its_events_touch(artifacts) -> None:
    user = artifacts.known_users()[0]
    seed = artifacts.seed_state(user)
    t = seed.last_ts + 86_400_000
    pid = int(artifacts.popular[0])
    sink = CountingSink()
    pipeline = Pipeline(artifacts, sink, config=DEFAULT_CONFIG)
    table: dict[bytes, bytes] = {}
    _seeded(artifacts, sink, user)
    seeded_buy_again = sink.data[reco_key(user, surface="buy_again")]
    assert {k for k in sink.data} == {f"reco:{user}", f"reco:{user}:buy_again"}

    await _batch(pipeline, table, [CartAdd("a1", user, pid, t)], 0)
    # a cart add: default and basket, one write; the first event also begins a session
    assert sink.writes[-1] == [(user, "default"), (user, "basket")]
    await _batch(pipeline, table, [Search("s1", user, "chocolate", t + 10_000)], 1)
    assert sink.writes[-1] == [(user, "default"), (user, "search")]  # not buy_again
    assert sink.data[reco_key(user, surface="buy_again")] == seeded_buy_again  # same bytes
    await _batch(pipeline, table, [Checkout("c1", user, t + 60_000)], 2)
    # a checkout: search too, its history changed
    assert sink.writes[-1] == [
        (user, "default"),
        (user, "buy_again"),
        (user, "basket"),
        (user, "search"),
    ]
    assert len(sink.writes) == 3  # one sink write per batch

    stored = {s: Recommendation.from_bytes(sink.data[reco_key(user, surface=s)]) for s in SURFACES}
    assert {s: r.surface for s, r in stored.items()} == {s: s for s in SURFACES}
    # each at the last event that changed its view: the checkout changed every one
    assert {r.event_ts for r in stored.values()} == {t + 60_000}
    assert stored["buy_again"].source == "stream" and stored["buy_again"].items
    assert pipeline.stats["rescored_buy_again"] == 1 and pipeline.stats["rescored_default"] == 3
    assert pipeline.stats["answers"] == 3 and pipeline.stats["surface_answers"] == 8


async def test_a_batch_surface_is_ranked_at_the_last_checkout_as_build_ranks_it(artifacts) -> None:
    user = artifacts.known_users()[1]
    seed = artifacts.seed_state(user)
    pipeline = Pipeline(artifacts, MemorySink(fenced=True), config=DEFAULT_CONFIG)
    table: dict[bytes, bytes] = {}
    buf = pipeline.load(table, user)
    later = {user: seed.last_ts + 30 * 86_400_000}  # a month on: today's answer would differ
    got = pipeline.rank({user: buf}, later, {user: ("buy_again",)})
    assert [r.surface for r in got] == ["buy_again"]
    (built,) = [
        r
        for r in batch_answers(artifacts, [user], pipeline.surfaces, 10, MODELS)
        if r.surface == "buy_again"
    ]
    assert got[0].items == built.items
    month_on = MODELS["buy_again"]([buf.current], artifacts, 10, [later[user]])[0]
    assert month_on.items != built.items  # so the time it is ranked at matters


def test_build_seeds_the_default_answer_it_always_seeded_and_buy_again(artifacts) -> None:
    users = artifacts.known_users()[:5]
    seeded = batch_answers(artifacts, [*users, 10**9], pipeline_module.load_surfaces(), 10, MODELS)
    assert [(r.user_id, r.surface) for r in seeded] == [
        *((u, "default") for u in users),
        *((u, "buy_again") for u in users),
    ]
    for reco in seeded[: len(users)]:
        assert reco.to_bytes() == batch_recommendation(artifacts, reco.user_id).to_bytes()
    assert {r.source for r in seeded} == {"batch"}


async def test_the_fading_timer_rescores_search_and_default_only(artifacts, monkeypatch) -> None:
    clock = [1_800_000_000_000]
    monkeypatch.setattr(pipeline_module, "wall_ms", lambda: clock[0])
    user = artifacts.known_users()[2]
    ts = artifacts.seed_state(user).last_ts + 1
    sink = CountingSink()
    pipeline = Pipeline(artifacts, sink, config=DEFAULT_CONFIG)
    table: dict[bytes, bytes] = {}
    await _batch(pipeline, table, [Search("s1", user, "chocolate", ts)], 0)
    clock[0] += 5 * 60_000
    assert await pipeline.rescore_faded(table) == 1
    assert sink.writes[-1] == [(user, "default"), (user, "search")]


@pytest.mark.parametrize("size", [1, 7, 64, 0])
async def test_the_worker_leaves_every_surface_as_the_twin_whatever_the_batches(
    artifacts, orders, catalog, size
) -> None:
    """The worker's own steps (reorder buffers, deltas, dispatch, the fenced sink) over the
    fixture's last orders cut into batches of ``size`` (0: one batch): every surface key holds
    the offline twin's answer (build's where no event rescored it)."""
    _, test = split_test_orders(orders, 1)
    events = recent_events(orders, test, catalog, search_rate=0.3, seed=1)
    last = {e.user_id: e.ts for e in events}
    product = int(artifacts.popular[0])
    for user in sorted(last)[::2]:  # these end on a search and a cart add, not a checkout
        events += [
            Search(f"tail-s-{user}", user, "organic bananas", last[user] + 60_000),
            CartAdd(f"tail-a-{user}", user, product, last[user] + 90_000),
        ]
    events = reorder.sort_for_apply(events)
    sink = CountingSink()
    for reco in batch_answers(artifacts, sorted(last), pipeline_module.load_surfaces(), 10, MODELS):
        sink.data[reco_key(reco.user_id, surface=reco.surface)] = reco.to_bytes()
    pipeline = Pipeline(artifacts, sink, config=DEFAULT_CONFIG)
    table: dict[bytes, bytes] = {}
    step = size or len(events)
    for start in range(0, len(events), step):
        await _batch(pipeline, table, events[start : start + step], start)

    twin = replay_surfaces(events, artifacts, config=DEFAULT_CONFIG, seeded=True)
    assert {s for _, s in twin} == set(SURFACES)
    for user in last:
        for surface in SURFACES:
            raw = sink.data.get(reco_key(user, surface=surface))
            want = twin.get((user, surface))
            if want is None:
                assert raw is None, (user, surface)
                continue
            got = replace(Recommendation.from_bytes(raw), updated_at=0, seq=0)
            assert got == Recommendation.from_bytes(want.to_bytes()), (user, surface)


async def test_a_late_cart_add_before_a_checkout_rescores_what_the_checkout_committed(
    artifacts,
) -> None:
    """The checkout comes first (its cart adds late, in the next batch): re-folded in event
    time it commits them after all, so buy_again and search (history) must be rescored though
    the late batch holds only a cart add; the answers are the twin's."""
    user = artifacts.known_users()[3]
    t = artifacts.seed_state(user).last_ts + 86_400_000
    pid = int(artifacts.popular[0])
    sink = CountingSink()
    pipeline = Pipeline(artifacts, sink, config=DEFAULT_CONFIG)
    table: dict[bytes, bytes] = {}
    _seeded(artifacts, sink, user)
    checkout = Checkout("c1", user, t + 60_000)
    await _batch(pipeline, table, [Search("s1", user, "milk", t - 10_000), checkout], 0)
    late = CartAdd("a1", user, pid, t)
    await _batch(pipeline, table, [late], 2)
    assert set(sink.writes[-1]) == {(user, s) for s in SURFACES}  # not only default and basket
    twin = replay_surfaces(
        [late, checkout, Search("s1", user, "milk", t - 10_000)],
        artifacts,
        config=DEFAULT_CONFIG,
        seeded=True,
    )
    for surface in SURFACES:
        got = Recommendation.from_bytes(sink.data[reco_key(user, surface=surface)])
        want = Recommendation.from_bytes(twin[user, surface].to_bytes())
        assert replace(got, updated_at=0, seq=0) == want, surface
