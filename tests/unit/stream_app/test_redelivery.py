"""The worker after a crash: Kafka redelivers what the changelog already holds."""

from __future__ import annotations

from pathlib import Path

from features import DEFAULT_CONFIG, fold
from loaders.catalog import load_catalog
from loaders.instacart import orders_to_events, read_orders
from schemas.events import encode
from schemas.keys import user_key
from scorers import build_artifacts
from stream_app.worker.pipeline import Incoming, Pipeline
from stream_app.worker.sinks import MemorySink

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "instacart"


def test_a_redelivered_window_longer_than_the_id_ring_changes_nothing() -> None:
    catalog = load_catalog(FIXTURE)
    orders = read_orders(FIXTURE / "orders.csv")
    artifacts = build_artifacts(orders[:1], catalog)  # nobody is seeded but one user
    user = max({o.user_id for o in orders}, key=lambda u: sum(o.user_id == u for o in orders))
    events = [e for e in orders_to_events(orders, catalog) if e.user_id == user]
    assert len(events) > 2 * DEFAULT_CONFIG.max_recent_ids  # longer than apply's id window
    offsets: dict[str, int] = {}
    messages = []
    for e in events:
        offset = offsets[e.type] = offsets.get(e.type, -1) + 1
        messages.append(Incoming(f"{e.type}s", 1, offset, user_key(user), encode(e)))
    pipeline = Pipeline(artifacts, MemorySink(), config=DEFAULT_CONFIG)
    table: dict[bytes, bytes] = {}

    def consume(batch: list[Incoming]) -> None:
        decoded, rejected = pipeline.decode(batch)
        touched, failed = pipeline.update(table, decoded)
        pipeline.write_back(table, touched)
        assert not rejected and not failed

    for i in range(0, len(messages), 50):
        consume(messages[i : i + 50])
    state = pipeline.load(table, user).current
    start = artifacts.seed_state(user) or pipeline.load({}, user).current
    assert state == fold(start, events)
    consume(messages)  # the crash: everything comes again, in one batch
    consume(messages[10:])  # and once more, partly
    assert pipeline.load(table, user).current == state
