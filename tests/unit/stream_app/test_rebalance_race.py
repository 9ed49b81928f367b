"""A rebalance while the worker waits on Redis must not leave notes for users it lost."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from features import DEFAULT_CONFIG
from loaders.catalog import load_catalog
from loaders.instacart import read_orders, split_test_orders
from schemas.events import Search, encode
from schemas.keys import user_key
from schemas.recommendation import Recommendation
from scorers import build_artifacts
from stream_app.worker.pipeline import Incoming, Pipeline
from stream_app.worker.sinks import MemorySink

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
        await pipeline.write(pipeline.rank(touched), touched)

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
    pipeline.notes.clear()  # revoked while the batch waited for the lock
    await pipeline.write(pipeline.rank(touched), touched, generation=generation)
    assert len(pipeline.notes) == 0
    await pipeline.write(pipeline.rank(touched), touched)  # the timer's way: read at write
    assert len(pipeline.notes) == 1


async def test_a_stale_writer_that_missed_a_late_event_cannot_overwrite_the_new_owner() -> None:
    # Old and new owner folded the same event; the new owner then folded a late one (an older
    # event_ts, so event_ts stays the same). The old owner's write arrives last: the fence's
    # tie-break (seq) keeps the new owner's answer, which reflects the late event too.
    orders = read_orders(FIXTURE / "orders.csv")
    train, _ = split_test_orders(orders, 1)
    artifacts = build_artifacts(train, load_catalog(FIXTURE))
    user = artifacts.known_users()[0]
    t = artifacts.seed_state(user).last_ts + 60_000
    sink = MemorySink(fenced=True)
    old = Pipeline(artifacts, sink, config=DEFAULT_CONFIG)
    new = Pipeline(artifacts, sink, config=DEFAULT_CONFIG)
    now = Search("s-now", user, "chocolate", t)
    late = Search("s-late", user, "yogurt", t - 5_000)
    first = [Incoming("searches", 0, 10, user_key(user), encode(now))]
    then = [Incoming("searches", 0, 11, user_key(user), encode(late))]

    async def batch(pipeline: Pipeline, table: dict, messages: list[Incoming]) -> Recommendation:
        decoded, _ = pipeline.decode(messages)
        touched, _ = pipeline.update(table, decoded)
        pipeline.write_back(table, touched)
        answers = pipeline.rank(touched)
        await pipeline.write(answers, touched)
        return answers[0]

    table: dict[bytes, bytes] = {}
    stale = await batch(old, dict(table), first)  # computed by the old owner ...
    await batch(new, table, first)
    fresh = await batch(new, table, then)  # the new owner folds the late event as well
    assert (fresh.event_ts, stale.event_ts) == (t, t) and fresh.seq > stale.seq
    assert fresh != stale  # the late search changed the answer
    await sink.write([stale])  # ... and written after the new owner's
    assert sink.kept_newer == 1
    assert sink.get(user) is not None and sink.get(user).items == fresh.items
