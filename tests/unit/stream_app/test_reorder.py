"""The reorder buffer makes the worker's state independent of cross-topic arrival order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from features import DEFAULT_CONFIG, empty_state, fold
from schemas.events import CartAdd, Checkout, Search
from stream_app import reorder

T0 = 1_500_000_000_000


def _events(n_orders: int) -> list:
    out = []
    ts = T0
    for o in range(n_orders):
        for pos in range(3):
            ts += 30_000
            out.append(Search(f"o{o}-s{pos}", 1, f"query {pos}", ts - 5_000))
            out.append(CartAdd(f"o{o}-a{pos}", 1, 10 * o + pos + 1, ts))
        ts += 60_000
        out.append(Checkout(f"o{o}-c", 1, ts))
        ts += 3 * 86_400_000
    return reorder.sort_for_apply(out)


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(1, 4))
def test_any_arrival_order_within_the_hold_gives_the_offline_state(rnd, n_orders) -> None:
    events = _events(n_orders)
    shuffled = list(events)
    rnd.shuffle(shuffled)
    buf = reorder.start(empty_state(1))
    for i, event in enumerate(shuffled):
        buf = reorder.add(buf, event, DEFAULT_CONFIG, now_ms=i)  # all within the hold
    assert buf.current == fold(empty_state(1), events)
    assert reorder.from_bytes(buf.to_bytes()) == buf


def test_events_settle_into_base_after_the_hold_and_duplicates_are_no_ops() -> None:
    events = _events(2)
    buf = reorder.start(empty_state(1))
    for i, event in enumerate(events):
        buf = reorder.add(buf, event, DEFAULT_CONFIG, now_ms=i * 20_000, hold_ms=10_000)
    assert len(buf.pending) == 1  # only the newest is still held
    assert fold(buf.base, buf.pending) == buf.current == fold(empty_state(1), events)
    again = reorder.add(buf, events[-1], DEFAULT_CONFIG, now_ms=10**9)
    assert again == buf


def test_pending_is_capped() -> None:
    buf = reorder.start(empty_state(1))
    for i, event in enumerate(_events(4)):
        buf = reorder.add(buf, event, DEFAULT_CONFIG, now_ms=i, max_pending=5)
    assert len(buf.pending) == 5


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(1, 4), st.integers(1, 7))
def test_batches_of_any_arrival_order_give_the_offline_state(rnd, n_orders, chunk) -> None:
    events = _events(n_orders)
    shuffled = list(events)
    rnd.shuffle(shuffled)
    shuffled += shuffled[: rnd.randint(0, 3)]  # some redelivered
    buf = reorder.start(empty_state(1))
    for i in range(0, len(shuffled), chunk):
        buf = reorder.add_many(buf, shuffled[i : i + chunk], DEFAULT_CONFIG, now_ms=i)
    assert buf.current == fold(empty_state(1), events)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 90))
def test_replaying_events_the_state_already_holds_gives_the_offline_state(chunk) -> None:
    # The seeded state already holds these events, but its duplicate filter only remembers the
    # latest max_recent_ids of them: the offline fold re-applies the older ones (and then the
    # newer ones, pushed out of the ring meanwhile). However the worker's batches fall, it must
    # reach exactly the same state as the offline replay of the same log.
    events = _events(12)  # 84 events, more than the 64 ids the ring keeps
    seeded = fold(empty_state(1), events)
    buf = reorder.start(seeded)
    for i in range(0, len(events), chunk):
        buf = reorder.add_many(buf, events[i : i + chunk], DEFAULT_CONFIG, now_ms=i)
    assert buf.current == fold(seeded, events)
