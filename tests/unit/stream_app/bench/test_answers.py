"""Watching answers: a shopper is done when their answer reflects their last event; each paced
event's delay ends at the first answer that reflects it."""

from __future__ import annotations

from schemas.recommendation import RecoItem, Recommendation
from stream_app.tools.bench.answers import DelayMatcher, DrainTracker, Seen, parse_answer


def test_a_worker_answer_parses_with_its_times() -> None:
    reco = Recommendation(7, (RecoItem(196, 0.5, "bought"),), "m", "stream", 1_000, 500)
    assert parse_answer(reco.to_bytes()) == Seen(event_ts=500, updated_at=1_000, streamed=True)


def test_seeded_and_fallback_answers_are_not_answers_of_the_stream() -> None:
    for source in ("batch", "fallback"):
        reco = Recommendation(7, (), "m", source, 1_000, 500)
        seen = parse_answer(reco.to_bytes())
        assert seen is not None and not seen.streamed


def test_drain_is_done_only_when_every_shopper_reflects_their_last_event() -> None:
    tracker = DrainTracker({1: 100, 2: 200})
    assert not tracker.see(1, Seen(99, 1_000, True))
    assert tracker.see(1, Seen(100, 1_010, True))
    assert not tracker.complete and tracker.waiting == [2]
    assert tracker.see(2, Seen(300, 1_500, True))
    assert tracker.complete
    assert (tracker.first_ms, tracker.done_ms) == (1_000, 1_500)


def test_first_answer_is_the_earliest_seen_even_when_seen_out_of_order() -> None:
    tracker = DrainTracker({1: 100, 2: 200})
    tracker.see(2, Seen(150, 1_200, True))
    tracker.see(1, Seen(50, 1_100, True))
    assert tracker.first_ms == 1_100


def test_a_shopper_done_stays_done_with_the_time_of_their_completing_answer() -> None:
    tracker = DrainTracker({1: 100})
    tracker.see(1, Seen(100, 1_000, True))
    tracker.see(1, Seen(100, 2_000, True))  # rewritten later (e.g. a late event folded)
    assert tracker.done == {1: 1_000}


def test_one_answer_can_answer_several_paced_events_of_its_shopper() -> None:
    m = DelayMatcher()
    for ts, wall in ((100, 1_000.0), (200, 1_020.0), (300, 1_040.0)):
        m.sent(5, ts, wall)
    assert m.answered(5, event_ts=250, updated_at=1_070) == 2
    assert m.delays_ms == [70.0, 50.0]
    assert m.unmatched == 1 and m.users() == [5]


def test_an_answer_older_than_every_pending_event_answers_none() -> None:
    m = DelayMatcher()
    m.sent(5, 300, 1_000.0)
    assert m.answered(5, event_ts=299, updated_at=1_100) == 0
    assert m.answered(6, event_ts=999, updated_at=1_100) == 0  # nobody waits for shopper 6
    assert m.delays_ms == []
