"""The table keeps a shopper's state as a delta from the batch seed; reading it back gives the
very state the worker folded (and a rebuilt seed rebases it)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from features import DEFAULT_CONFIG, apply, empty_state, reorder
from features.delta import from_delta, to_delta
from loaders.catalog import load_catalog
from loaders.instacart import read_orders, split_test_orders
from scorers import build_artifacts
from stream_app.tools.replay import recent_events

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "instacart"


@pytest.fixture(scope="module")
def folded() -> tuple[dict, dict, object]:
    """Every fixture shopper's seed (history minus the last 3 orders) and the state after
    folding those orders' events (with searches) onto it, checking the delta at every step."""
    catalog = load_catalog(FIXTURE)
    orders = read_orders(FIXTURE / "orders.csv")
    history, recent = split_test_orders(orders, 3)
    artifacts = build_artifacts(history, catalog)
    events = recent_events(orders, recent, catalog, search_rate=0.3, seed=4)
    seeds: dict = {}
    states: dict = {}
    for event in reorder.sort_for_apply(events):
        user = event.user_id
        if user not in seeds:
            seeds[user] = artifacts.seed_state(user) or empty_state(user)
        state = apply(states.get(user, seeds[user]), event, artifacts.config)
        delta = to_delta(state, seeds[user])
        assert delta is not None
        assert from_delta(delta, seeds[user], artifacts.config) == state
        states[user] = state
    return seeds, states, artifacts


def test_every_state_grown_from_its_seed_reads_back_exactly(folded) -> None:
    seeds, states, _ = folded
    assert len(states) >= 20
    assert any(s.n_orders > seeds[u].n_orders for u, s in states.items())


def test_the_table_value_is_small_and_reads_back_equal(folded) -> None:
    seeds, states, artifacts = folded
    sizes = []
    for user, state in states.items():
        buf = reorder.start(seeds[user])
        buf = reorder.Buffered(state, (), state, (), (("cart-adds", 0, 5),), seeds[user])
        raw = buf.to_bytes()
        sizes.append(len(raw))
        back = reorder.from_bytes(raw, lambda u: seeds[u], artifacts.config)
        assert back == buf
        assert len(raw) < len(state.to_bytes())
    assert sorted(sizes)[len(sizes) // 2] <= 1024


def test_a_state_not_grown_from_the_seed_has_no_delta_and_is_stored_whole(folded) -> None:
    seeds, states, artifacts = folded
    user = next(u for u, s in states.items() if s.n_orders > seeds[u].n_orders)
    later = states[user].order_ts[-1] + 1  # a seed whose timeline the state does not extend
    other = replace(seeds[user], order_ts=(*seeds[user].order_ts[:-1], later))
    assert to_delta(states[user], other) is None
    buf = reorder.Buffered(states[user], (), states[user], (), (), other)
    back = reorder.from_bytes(buf.to_bytes(), lambda u: other, artifacts.config)
    assert back.current == states[user]


def test_a_rebuilt_seed_keeps_only_the_orders_it_does_not_cover(folded) -> None:
    seeds, states, artifacts = folded
    user = next(u for u, s in states.items() if s.n_orders >= seeds[u].n_orders + 2)
    state, seed = states[user], seeds[user]
    delta = to_delta(state, seed)
    # a rebuild that covered the first new order: its seed is the old one plus that order
    first_basket, first_ts = delta[-1][0]
    from features.update import commit_basket

    rebuilt = commit_basket(seed, tuple(first_basket), first_ts, artifacts.config)
    assert from_delta(delta, rebuilt, artifacts.config) == state


def test_default_config_is_what_the_fixture_artifacts_use(folded) -> None:
    _, _, artifacts = folded
    assert artifacts.config.max_recent_orders == DEFAULT_CONFIG.max_recent_orders


def test_kept_pieces_serialise_as_encoding_the_pending_events_again() -> None:
    """The serialised pending events a buffer carries along give the very bytes encoding
    them afresh would (and the same state read back), before and after some settle."""
    catalog = load_catalog(FIXTURE)
    orders = read_orders(FIXTURE / "orders.csv")
    history, recent = split_test_orders(orders, 2)
    artifacts = build_artifacts(history, catalog)
    events = reorder.sort_for_apply(recent_events(orders, recent, catalog, search_rate=0.3))
    for user in sorted({e.user_id for e in events})[:8]:
        seed = artifacts.seed_state(user) or empty_state(user)
        mine = [e for e in events if e.user_id == user]
        buf = reorder.start(seed)
        for i in range(0, len(mine), 2):
            buf = reorder.add_many(buf, mine[i : i + 2], artifacts.config, 1_000 + i)
        assert buf.pieces is not None and len(buf.pieces) == len(buf.pending) == len(mine)
        assert buf.to_bytes() == replace(buf, pieces=None).to_bytes()
        back = reorder.from_bytes(buf.to_bytes(), lambda u, s=seed: s, artifacts.config)
        assert back == buf
        middle = 1_000 + reorder.DEFAULT_HOLD_MS + len(mine) // 2
        settled = reorder.add_many(buf, [], artifacts.config, 0, frontier=middle)
        assert 0 < len(settled.pending) < len(mine)
        assert settled.to_bytes() == replace(settled, pieces=None).to_bytes()
