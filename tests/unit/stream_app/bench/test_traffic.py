"""The bench's traffic: interleaved like a store, grouped on request, paced passes later in time."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.errors import ConfigError
from schemas.events import MAX_TS_MS, CartAdd, Checkout, Event
from stream_app.tools.bench.traffic import (
    by_user,
    grouped,
    interleave,
    last_ts_by_user,
    paced_events,
)

T0 = 1_500_000_000_000


def _events(shape: list[int]) -> list[Event]:
    """Shopper i (from 1) has shape[i-1] events, ts increasing; listed in time order overall."""
    out: list[Event] = []
    for user, n in enumerate(shape, 1):
        out += [CartAdd(f"u{user}-{k}", user, 1, T0 + 1000 * k + user) for k in range(n)]
    return sorted(out, key=lambda e: e.ts)


shapes = st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=8)


@given(shapes)
def test_interleave_keeps_every_event_and_each_shoppers_order(shape: list[int]) -> None:
    events = _events(shape)
    out = interleave(events)
    assert sorted(e.event_id for e in out) == sorted(e.event_id for e in events)
    assert by_user(out) == by_user(events)


@given(shapes)
def test_interleave_puts_different_shoppers_next_to_each_other_while_several_remain(
    shape: list[int],
) -> None:
    out = interleave(_events(shape))
    second_most = sorted(shape)[-2] if len(shape) > 1 else 0
    # every round of the round-robin has at least two shoppers until all but one ran out
    head = out[: 2 * second_most]
    assert all(a.user_id != b.user_id for a, b in itertools.pairwise(head))


def test_grouped_is_shopper_by_shopper_in_order_of_first_appearance() -> None:
    events = _events([2, 3, 1])
    out = grouped(events)
    assert [e.user_id for e in out] == [1, 1, 2, 2, 2, 3]
    assert by_user(out) == by_user(events)


def test_last_ts_is_each_shoppers_latest_event_whatever_the_order() -> None:
    events = [Checkout("c", 1, T0 + 50), CartAdd("a", 1, 7, T0 + 10), CartAdd("b", 2, 7, T0)]
    assert last_ts_by_user(events) == {1: T0 + 50, 2: T0}


@given(shapes, st.integers(min_value=1, max_value=60), st.booleans())
def test_paced_events_are_new_and_later_than_the_backlog_in_each_shoppers_order(
    shape: list[int], n: int, shopper_order: bool
) -> None:
    backlog = _events(shape)
    paced = paced_events(backlog, n, shopper_order=shopper_order)
    assert len(paced) == n
    assert len({e.event_id for e in paced}) == n  # the worker drops event ids it has seen
    assert not {e.event_id for e in paced} & {e.event_id for e in backlog}
    last = last_ts_by_user(backlog)
    for user, mine in by_user(paced).items():
        ts = [e.ts for e in mine]
        assert ts[0] > last[user]
        assert ts == sorted(ts) and len(set(ts)) == len(ts)  # sent in increasing time


def test_paced_events_refuse_to_go_past_the_year_2100() -> None:
    near_the_end = [CartAdd("a", 1, 7, MAX_TS_MS - 10 * 86_400_000)]
    with pytest.raises(ConfigError, match="past the year 2100"):
        paced_events(near_the_end, 100)
