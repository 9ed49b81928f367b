"""The core bench: the pure pipeline in one process, on the bench's traffic."""

from __future__ import annotations

from stream_app.tools.bench import traffic
from stream_app.tools.bench.core import STEPS, build_core, messages_for, run_core
from stream_app.worker.pipeline import replay_offline


def test_core_run_times_every_step_and_is_deterministic(fixture_dir) -> None:
    artifacts, events = build_core(
        fixture_dir / "orders.csv", fixture_dir, last_orders=2, search_rate=0.3, seed=1
    )
    messages = messages_for(traffic.interleave(events))
    first = run_core(artifacts, messages, batch=50)
    again = run_core(artifacts, messages, batch=50)
    assert first.events == len(events) and first.answers > 0
    assert set(first.seconds) == set(STEPS)
    assert first.digest == again.digest
    assert "events per rescore" in first.lines()[0]


def test_core_run_ends_with_the_offline_answers(fixture_dir) -> None:
    from stream_app.tools.bench.core import last_answers

    artifacts, events = build_core(
        fixture_dir / "orders.csv", fixture_dir, last_orders=2, search_rate=0.3, seed=1
    )
    run = run_core(artifacts, messages_for(traffic.interleave(events)), batch=37)
    offline = replay_offline(events, artifacts, config=artifacts.config)
    got = last_answers(run)
    assert got.keys() == offline.keys()
    for user, reco in offline.items():
        assert got[user].items == reco.items
