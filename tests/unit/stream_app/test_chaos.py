"""The chaos harness's pure parts: bad input, judging answers against the twin, options."""

from __future__ import annotations

import argparse

import pytest

from schemas.events import CartAdd, Checkout, Search
from schemas.recommendation import RecoItem, Recommendation
from stream_app.cli.chaos import FAULTS, faults
from stream_app.settings import Settings
from stream_app.tools.chaos.fuzz import KINDS, interleave
from stream_app.tools.chaos.observe import judge
from stream_app.worker.pipeline import Incoming, Pipeline, feature_config
from stream_app.worker.sinks import MemorySink

T0 = 1_500_000_000_000


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_fuzz_kind_is_dead_lettered_by_the_workers_decode(kind: str, artifacts) -> None:
    pipeline = Pipeline(
        artifacts, MemorySink(), config=feature_config(artifacts, Settings().session_gap_ms)
    )
    user = artifacts.known_users()[0]
    product = int(artifacts.popular[0])
    unknown = len(artifacts.names) + 1_000_003
    for event in (
        CartAdd("o1-a1", user, product, T0, order_id=3),
        Search("o1-s1", user, "milk", T0, synthetic=True),
        Checkout("o1-c", user, T0, order_id=3),
    ):
        key, value = KINDS[kind](event, unknown)
        good, bad = pipeline.decode([Incoming("cart-adds", 0, 0, key, value)])
        assert (good, len(bad)) == ([], 1), f"{kind} of a {event.type} was accepted"


def test_interleave_keeps_the_good_events_in_order_among_the_bad_ones() -> None:
    events = [Checkout(f"c{i}", 7, T0 + i) for i in range(50)]
    records = interleave(events, Settings(), n_bad=30, unknown_product=10**9, seed=3)
    good = [r for r in records if r.bad is None]
    assert len(records) == 80 and len([r for r in records if r.bad]) == 30
    assert [r.ts for r in good] == [e.ts for e in events]
    assert {r.topic for r in good} == {Settings().topic_checkouts}
    assert records[0].bad is None  # a bad message always follows the good event it came from


def test_judge_counts_a_missing_answer_as_differing_with_all_its_events_lost() -> None:
    want = Recommendation(7, (RecoItem(1, 0.5, "r"),), "m", event_ts=T0 + 2)
    got = Recommendation.from_bytes(want.to_bytes())
    verdict = judge({7: got, 8: None}, {7: want, 8: want}, {7: [T0, T0 + 2], 8: [T0, T0 + 1]})
    assert verdict.differing == {8} and verdict.behind == {8} and verdict.lost_events == 2


def test_judge_counts_events_newer_than_the_answer_as_lost() -> None:
    want = Recommendation(7, (RecoItem(1, 0.5, "r"),), "m", event_ts=T0 + 2)
    stale = Recommendation(7, want.items, "m", event_ts=T0)
    verdict = judge({7: stale}, {7: want}, {7: [T0, T0 + 1, T0 + 2]})
    assert verdict.differing == set() and verdict.behind == {7} and verdict.lost_events == 2


def test_faults_option_takes_a_comma_list_or_all_and_names_unknown_ones() -> None:
    assert faults("kill, dup,kill") == ["kill", "dup"]
    assert faults("all") == list(FAULTS)
    with pytest.raises(argparse.ArgumentTypeError, match=r"unknown fault.*kil"):
        faults("kil,dup")
