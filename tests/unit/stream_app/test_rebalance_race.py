"""A rebalance while the worker waits on Redis must not leave notes for users it lost."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from features import DEFAULT_CONFIG
from schemas.catalog import load_catalog
from schemas.events import Search, encode
from schemas.instacart import read_orders, split_test_orders
from schemas.recommendation import Recommendation
from scorers import build_artifacts
from stream_app.agents import Incoming, Pipeline, user_key
from stream_app.sinks import MemorySink

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "instacart"


class RevokedDuringWrite(MemorySink):
    """Stores the batch; meanwhile the partitions are revoked (``notes.clear()``), as when
    ``rescore_faded`` sits in ``write_until_done`` while Faust rebalances."""

    pipeline: Pipeline | None = None
    revoke = False

    async def write(self, batch: Sequence[Recommendation]) -> None:
        await super().write(batch)
        if self.revoke and self.pipeline is not None:
            self.pipeline.notes.clear()


async def test_a_write_that_outlived_a_revocation_notes_nobody() -> None:
    orders = read_orders(FIXTURE / "orders.csv")
    train, _ = split_test_orders(orders, 1)
    artifacts = build_artifacts(train, load_catalog(FIXTURE))
    user = artifacts.known_users()[0]
    sink = RevokedDuringWrite()
    pipeline = Pipeline(artifacts, sink, config=DEFAULT_CONFIG)
    sink.pipeline = pipeline
    search = Search("s1", user, "chocolate", artifacts.seed_state(user).last_ts + 1)
    msg = Incoming("searches", 0, 0, user_key(user), encode(search))

    async def batch(table: dict) -> None:
        decoded, _ = pipeline.decode([msg])
        touched, _ = pipeline.update(table, decoded)
        pipeline.write_back(table, touched)
        current = pipeline.current(touched)
        await pipeline.write(pipeline.rank(current), current)

    await batch({})
    assert len(pipeline.notes) == 1  # a live search: the timer will rescore this user
    sink.revoke = True
    await batch({})
    assert len(pipeline.notes) == 0  # revoked meanwhile: not ours to rescore any more
    assert sink.get(user) is not None and pipeline.stats["answers"] == 2


async def test_a_batch_that_waited_for_the_lock_through_a_revocation_notes_nobody() -> None:
    # the agent reads notes.generation when its batch starts; the timer may hold the lock (a
    # slow Redis) while partitions are revoked: the batch's write must not note its users
    orders = read_orders(FIXTURE / "orders.csv")
    train, _ = split_test_orders(orders, 1)
    artifacts = build_artifacts(train, load_catalog(FIXTURE))
    user = artifacts.known_users()[0]
    pipeline = Pipeline(artifacts, MemorySink(), config=DEFAULT_CONFIG)
    search = Search("s1", user, "chocolate", artifacts.seed_state(user).last_ts + 1)
    msg = Incoming("searches", 0, 0, user_key(user), encode(search))
    generation = pipeline.notes.generation  # the batch starts
    decoded, _ = pipeline.decode([msg])
    touched, _ = pipeline.update({}, decoded)
    current = pipeline.current(touched)
    pipeline.notes.clear()  # revoked while the batch waited for the lock
    await pipeline.write(pipeline.rank(current), current, generation=generation)
    assert len(pipeline.notes) == 0
    await pipeline.write(pipeline.rank(current), current)  # the timer's way: read at write
    assert len(pipeline.notes) == 1
