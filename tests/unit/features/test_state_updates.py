"""Claims about the pure per-user state update ``apply``."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features import DEFAULT_CONFIG, FeatureConfig, UserState, apply, empty_state, fold
from schemas.errors import InvalidData
from schemas.events import CartAdd, Checkout, Search

T0 = 1_500_000_000_000
MIN = 60_000


def add(i: int, pid: int, ts: int, uid: int = 7) -> CartAdd:
    return CartAdd(f"a{i}", uid, pid, ts)


def test_cart_add_duplicate_is_idempotent():
    s1 = apply(empty_state(7), add(1, 196, T0))
    s2 = apply(s1, add(1, 196, T0))
    assert s2 is s1
    assert s2.basket == (196,)


def test_basket_keeps_add_order_and_no_repeats():
    s = fold(empty_state(7), [add(1, 5, T0), add(2, 3, T0 + 1), add(3, 5, T0 + 2)])
    assert s.basket == (5, 3)


def test_checkout_commits_basket_to_history():
    s = fold(empty_state(7), [add(1, 5, T0), add(2, 3, T0 + MIN), Checkout("c1", 7, T0 + 2 * MIN)])
    assert s.basket == ()
    assert s.n_orders == 1 and s.total_items == 2
    assert s.history.row(5)["count"] == 1 and s.history.row(3)["pos_sum"] == 1
    assert s.recent_orders == ((5, 3),)
    s = fold(s, [add(3, 5, T0 + 10 * MIN), Checkout("c2", 7, T0 + 11 * MIN)])
    row = s.history.row(5)
    assert row["count"] == 2 and row["first_order"] == 1 and row["last_order"] == 2
    assert row["last_ts"] == T0 + 11 * MIN


def test_checkout_of_empty_basket_records_no_order():
    s = apply(empty_state(7), Checkout("c", 7, T0))
    assert s.n_orders == 0 and s.last_ts == T0


def test_inactivity_gap_drops_basket_without_committing():
    cfg = FeatureConfig(session_gap_ms=30 * MIN)
    s = fold(empty_state(7), [add(1, 5, T0), add(2, 6, T0 + 31 * MIN)], cfg)
    assert s.basket == (6,)
    assert s.n_orders == 0 and len(s.history) == 0
    s = apply(s, Checkout("c", 7, T0 + 32 * MIN), cfg)
    assert s.history.row(5) is None and s.history.row(6)["count"] == 1


def test_gap_within_session_keeps_basket():
    cfg = FeatureConfig(session_gap_ms=30 * MIN)
    s = fold(empty_state(7), [add(1, 5, T0), add(2, 6, T0 + 29 * MIN)], cfg)
    assert s.basket == (5, 6)


def test_searches_are_normalised_bounded_and_expire_by_event_time():
    cfg = FeatureConfig(max_searches=2, search_ttl_ms=10 * MIN)
    s = fold(
        empty_state(7),
        [Search(f"s{i}", 7, q, T0 + i) for i, q in enumerate(["Yogurts", "the milk", "eggs"])],
        cfg,
    )
    assert [q for q, _ in s.searches] == ["milk", "egg"]
    s = apply(s, add(9, 1, T0 + 11 * MIN), cfg)  # only a search changes the searches
    assert [q for q, _ in s.searches] == ["milk", "egg"]
    s = apply(s, Search("s9", 7, "bread", T0 + 11 * MIN), cfg)
    assert s.searches == (("bread", T0 + 11 * MIN),)


def test_late_event_never_moves_time_backwards():
    s = fold(empty_state(7), [add(1, 5, T0 + MIN), add(2, 6, T0)])
    assert s.last_ts == T0 + MIN


def test_history_is_capped_dropping_least_bought_first():
    cfg = FeatureConfig(max_history=3)
    events = [add(1, 1, T0), add(2, 2, T0 + 1), Checkout("c1", 7, T0 + 2)]
    events += [add(3, 1, T0 + 3), add(4, 3, T0 + 4), add(5, 4, T0 + 5), Checkout("c2", 7, T0 + 6)]
    s = fold(empty_state(7), events, cfg)
    assert len(s.history) == 3
    assert s.history.row(1)["count"] == 2
    assert s.history.row(2) is None  # bought once, longest ago


def test_state_round_trips_through_bytes():
    s = fold(
        empty_state(7),
        [
            add(1, 5, T0),
            Search("s", 7, "greek yogurt", T0 + 1),
            Checkout("c", 7, T0 + 2),
            add(2, 9, T0 + 3),
        ],
    )
    assert UserState.from_bytes(s.to_bytes()) == s


def test_from_bytes_rejects_garbage():
    with pytest.raises(InvalidData):
        UserState.from_bytes(b"not json")
    with pytest.raises(InvalidData):
        UserState.from_bytes(b"[999]")


events_strategy = st.lists(
    st.tuples(
        st.sampled_from(["add", "search", "checkout"]),
        st.integers(1, 40),
        st.integers(0, 3 * 60 * MIN),
        st.integers(0, 30),
    ),
    max_size=120,
)


def _events(spec):
    ts = T0
    out = []
    for i, (kind, pid, gap, dup) in enumerate(spec):
        ts += gap
        eid = f"e{min(i, i - dup) if dup < 3 else i}"
        if kind == "add":
            out.append(CartAdd(eid, 7, pid, ts))
        elif kind == "search":
            out.append(Search(eid, 7, f"product {pid}", ts))
        else:
            out.append(Checkout(eid, 7, ts))
    return out


@settings(max_examples=60, deadline=None)
@given(events_strategy)
def test_state_stays_bounded_and_counts_consistent(spec):
    cfg = FeatureConfig(
        max_history=10,
        max_basket=5,
        max_searches=3,
        max_recent_ids=8,
        max_order_ts=4,
        max_recent_orders=3,
    )
    s = fold(empty_state(7), _events(spec), cfg)
    h = s.history
    assert len(h) <= 10 and len(s.basket) <= 5 and len(s.searches) <= 3
    assert len(s.recent_ids) <= 8 and len(s.order_ts) <= 4 and len(s.recent_orders) <= 3
    assert list(h.pid) == sorted(set(h.pid))
    assert all(1 <= c <= s.n_orders for c in h.count)
    assert all(f <= la <= s.n_orders for f, la in zip(h.first_order, h.last_order, strict=True))
    assert all(
        c <= la - f + 1 for c, f, la in zip(h.count, h.first_order, h.last_order, strict=True)
    )
    assert len(set(s.basket)) == len(s.basket)
    assert UserState.from_bytes(s.to_bytes()) == s


@settings(max_examples=40, deadline=None)
@given(events_strategy)
def test_apply_is_pure_and_deterministic(spec):
    events = _events(spec)
    state = empty_state(7)
    for e in events:
        before = copy.deepcopy(state)
        e_before = copy.deepcopy(e)
        a = apply(state, e, DEFAULT_CONFIG)
        b = apply(state, e, DEFAULT_CONFIG)
        assert a == b
        assert state == before and e == e_before
        state = a
