"""The worker's steps without Faust: coalescing, dead letters, write-back, the decay timer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from features import DEFAULT_CONFIG, apply, empty_state, reorder
from loaders.catalog import load_catalog
from loaders.instacart import read_orders, split_test_orders
from schemas.errors import InvalidData, InvalidEvent
from schemas.events import CartAdd, Checkout, Search, encode
from schemas.keys import user_key
from schemas.recommendation import Recommendation
from scorers import Artifacts, build_artifacts, recommend
from stream_app.tools.replay import recent_events
from stream_app.worker.pipeline import Incoming, Pipeline, replay_offline
from stream_app.worker.sinks import MemorySink

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "instacart"


@pytest.fixture(scope="module")
def world() -> tuple[Artifacts, list, list, object]:
    catalog = load_catalog(FIXTURE)
    orders = read_orders(FIXTURE / "orders.csv")
    train, test = split_test_orders(orders, 1)
    return build_artifacts(train, catalog), orders, test, catalog


class CountingSink(MemorySink):
    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    async def write(self, batch: Sequence[Recommendation]) -> None:
        self.sizes.append(len(batch))
        await super().write(batch)


def pipeline_read(raw: bytes, artifacts: Artifacts) -> reorder.Buffered:
    """A stored table value, read as the worker reads it (deltas against the batch seed)."""
    return reorder.from_bytes(raw, lambda u: artifacts.seed_state(u) or empty_state(u))


def _msg(event, offset: int = 0, key: bytes | None = None) -> Incoming:
    k = user_key(event.user_id) if key is None else key
    return Incoming(f"{event.type}s", 0, offset, k, encode(event))


async def _run(pipeline: Pipeline, table: dict, messages: list[Incoming]) -> list:
    decoded, rejected = pipeline.decode(messages)
    touched, failed = pipeline.update(table, decoded)
    pipeline.write_back(table, touched)
    await pipeline.write(
        pipeline.rank(touched, surfaces=pipeline.dispatch(decoded, touched)), touched
    )
    return rejected + failed


async def test_a_batch_rescores_each_touched_user_once_in_one_sink_write(world) -> None:
    artifacts, orders, test, catalog = world
    events = recent_events(orders, test, catalog, search_rate=0.3)
    sink = CountingSink()
    pipeline = Pipeline(artifacts, sink, config=DEFAULT_CONFIG)
    table: dict[bytes, bytes] = {}
    rejected = await _run(pipeline, table, [_msg(e, i) for i, e in enumerate(events)])
    users = {e.user_id for e in events}
    assert rejected == []
    # one write for the whole batch: one default answer per user, and the other surfaces'
    assert len(sink.sizes) == 1 and pipeline.stats["rescored_default"] == len(users)
    assert sink.sizes == [sum(pipeline.stats[f"rescored_{s.name}"] for s in pipeline.surfaces)]
    assert set(table) == {user_key(u) for u in users}
    expected = replay_offline(events, artifacts, config=DEFAULT_CONFIG)
    for user in users:
        got = sink.get(user)
        assert got is not None
        want = Recommendation.from_bytes(expected[user].to_bytes())
        assert replace(got, updated_at=0, seq=0) == want
        # seq: how far into its source partitions (topic per event type here) the user is
        last = {f"{e.type}s": i for i, e in enumerate(events) if e.user_id == user}
        assert got.seq == sum(offset + 1 for offset in last.values())


async def test_bad_messages_become_dead_letters_and_good_ones_around_them_count(world) -> None:
    artifacts, *_ = world
    user = artifacts.known_users()[0]
    seed = artifacts.seed_state(user)
    good = CartAdd("g1", user, int(artifacts.popular[0]), seed.last_ts + 1000)
    after = Checkout("g2", user, seed.last_ts + 2000)
    bad = [
        Incoming("cart-adds", 0, 1, user_key(user), b"{nope"),
        Incoming("cart-adds", 0, 2, b"1", encode(good)),  # key of another user
        Incoming(
            "cart-adds",
            0,
            3,
            user_key(user),
            orjson.dumps(
                {
                    "type": "cart_add",
                    "event_id": "x",
                    "user_id": user,
                    "product_id": 10**9,
                    "ts": seed.last_ts,
                }
            ),
        ),
    ]
    sink = CountingSink()
    pipeline = Pipeline(artifacts, sink, config=DEFAULT_CONFIG)
    table: dict[bytes, bytes] = {}
    letters = await _run(pipeline, table, [_msg(good, 0), *bad, _msg(after, 4)])
    assert [(d.offset, d.reason) for d in letters] == [
        (1, "malformed_json"),
        (2, "key_mismatch"),
        (3, "unknown_product"),
    ]
    state = pipeline_read(table[user_key(user)], artifacts).current
    assert state.n_orders == seed.n_orders + 1  # both good events applied
    assert state.last_ts == after.ts


async def test_unknown_user_starts_empty_and_known_user_from_the_seed(world) -> None:
    artifacts, *_ = world
    pipeline = Pipeline(artifacts, MemorySink(), config=DEFAULT_CONFIG)
    known = artifacts.known_users()[0]
    assert pipeline.load({}, known).current == artifacts.seed_state(known)
    assert pipeline.load({}, 10**9).current.n_orders == 0


async def test_timer_rescores_faded_search_context_with_elapsed_time(world) -> None:
    artifacts, *_ = world
    user = artifacts.known_users()[1]
    seed = artifacts.seed_state(user)
    sink = MemorySink()
    pipeline = Pipeline(artifacts, sink, config=DEFAULT_CONFIG)
    table: dict[bytes, bytes] = {}
    search = Search("s1", user, "chocolate", seed.last_ts + 86_400_000)
    await _run(pipeline, table, [_msg(search)])
    assert len(pipeline.notes) == 1
    fresh = sink.get(user)
    assert any("chocolate" in i.reason for i in fresh.items)

    # pretend the answer was written 20 minutes (two half-lives) ago
    event_ts, written = pipeline.notes._notes[user]
    pipeline.notes._notes[user] = (event_ts, written - 20 * 60_000)
    assert await pipeline.rescore_faded(table) == 1
    faded = sink.get(user)
    state = pipeline.load(table, user).current
    expected = recommend(state, artifacts, 10, now_ms=search.ts + 20 * 60_000)
    assert [i.product_id for i in faded.items] == [i.product_id for i in expected.items]
    assert faded.event_ts == search.ts  # still reflects the same last event

    # an hour later (six half-lives) the search still counts a little: rescored, still noted
    pipeline.notes._notes[user] = (event_ts, written - 60 * 60_000)
    assert await pipeline.rescore_faded(table) == 1
    assert len(pipeline.notes) == 1
    # past the scorer's cutoff (weight < 0.01, ~66 min): one last rescore, then the note goes,
    # and the answer left in Redis is exactly the one without the search
    pipeline.notes._notes[user] = (event_ts, written - 67 * 60_000)
    assert await pipeline.rescore_faded(table) == 1
    assert len(pipeline.notes) == 0
    assert await pipeline.rescore_faded(table) == 0
    final = sink.get(user)
    at = search.ts + 67 * 60_000
    forgotten = recommend(replace(state, searches=()), artifacts, 10, now_ms=at)
    assert not any("chocolate" in i.reason for i in final.items)
    assert [(i.product_id, i.reason) for i in final.items] == [
        (i.product_id, i.reason) for i in forgotten.items
    ]


def _stored_values(artifacts: Artifacts, user: int) -> dict[str, bytes]:
    """Unreadable table values of ``user``: garbage, a truncated valid one, an older format."""
    valid = reorder.start(artifacts.seed_state(user)).to_bytes()
    return {
        "garbage": b"\x00\xffnot a state at all",
        "truncated": valid[: len(valid) // 2],
        "old_format": artifacts.seed_state(user).to_bytes(),  # a bare UserState, no framing
    }


@pytest.mark.parametrize("kind", ["garbage", "truncated", "old_format"])
async def test_unreadable_stored_state_is_dead_lettered_and_the_user_reseeded(
    world, kind: str
) -> None:
    artifacts, *_ = world
    user, other = artifacts.known_users()[:2]
    stored = _stored_values(artifacts, user)[kind]
    with pytest.raises(InvalidData):
        pipeline_read(stored, artifacts)  # really unreadable
    seed = artifacts.seed_state(user)
    other_seed = artifacts.seed_state(other)
    pipeline = Pipeline(artifacts, MemorySink(), config=DEFAULT_CONFIG)
    table: dict[bytes, bytes] = {}
    # the other user has a readable state from an earlier batch
    first = CartAdd("o1", other, int(artifacts.popular[1]), other_seed.last_ts + 500)
    await _run(pipeline, table, [_msg(first, 0)])
    other_before = pipeline_read(table[user_key(other)], artifacts)
    table[user_key(user)] = stored

    event = CartAdd("u1", user, int(artifacts.popular[0]), seed.last_ts + 1000)
    later = Checkout("o2", other, other_seed.last_ts + 2000)
    letters = await _run(pipeline, table, [_msg(event, 7), _msg(later, 8)])

    assert [(d.stage, d.reason, d.key, d.offset) for d in letters] == [
        ("state", "unreadable_state", str(user), 7)
    ]
    assert f"user {user}" in letters[0].detail
    assert letters[0].raw == stored
    assert pipeline.stats["dead_letters"] == 1
    got = pipeline_read(table[user_key(user)], artifacts).current  # readable again
    assert got == apply(seed, event, DEFAULT_CONFIG)
    assert got.basket[-1] == event.product_id
    other_now = pipeline_read(table[user_key(other)], artifacts).current
    assert other_now == apply(other_before.current, later, DEFAULT_CONFIG)
    assert other_now.n_orders == other_seed.n_orders + 1  # its earlier cart add was kept
    assert pipeline.sink.get(user) is not None and pipeline.sink.get(other) is not None


async def test_unknown_user_with_unreadable_state_restarts_empty(world) -> None:
    artifacts, *_ = world
    user = 10**9
    pipeline = Pipeline(artifacts, MemorySink(), config=DEFAULT_CONFIG)
    table = {user_key(user): b"R1\x00"}
    event = Search("s1", user, "milk", 1_500_000_000_000)
    letters = await _run(pipeline, table, [_msg(event)])
    assert [d.stage for d in letters] == ["state"]
    state = pipeline_read(table[user_key(user)], artifacts).current
    assert state == apply(empty_state(user), event, DEFAULT_CONFIG)


def test_load_state_of_unreadable_value_gives_the_seed_without_raising(world) -> None:
    artifacts, *_ = world
    user = artifacts.known_users()[0]
    pipeline = Pipeline(artifacts, MemorySink(), config=DEFAULT_CONFIG)
    for stored in _stored_values(artifacts, user).values():
        table = {user_key(user): stored}
        assert pipeline.load(table, user).current == artifacts.seed_state(user)
        assert table[user_key(user)] == stored  # reading does not write


def test_an_error_while_applying_events_is_not_swallowed(world, monkeypatch) -> None:
    # decoded events are valid, so any error folding them is a bug: it must reach the agent's
    # STOP branch (no dead letter, nothing written back), whatever its type
    artifacts, *_ = world
    user = artifacts.known_users()[0]
    seed = artifacts.seed_state(user)
    pipeline = Pipeline(artifacts, MemorySink(), config=DEFAULT_CONFIG)
    decoded, _ = pipeline.decode([_msg(Checkout("c1", user, seed.last_ts + 1000))])

    def broken(*args, **kwargs):
        raise InvalidEvent("bad_value", "raised by a bug in the fold")

    monkeypatch.setattr(reorder, "add_many", broken)
    table: dict[bytes, bytes] = {}
    with pytest.raises(InvalidEvent):
        pipeline.update(table, decoded)
    assert table == {} and pipeline.stats["dead_letters"] == 0
