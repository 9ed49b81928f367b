"""Product ids the artifacts' catalog arrays do not know (a stored state that outlived a
rebuild whose catalog has a lower maximum id) are ignored by scoring instead of crashing it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from features import apply
from features.state import History, UserState
from schemas.events import CartAdd
from scorers import recommend
from scorers.featurize import COL, candidate_features

_COLS = ("pid", "count", "first_order", "last_order", "first_ts", "last_ts", "pos_sum")


def _with_history_row(state: UserState, row: dict[str, int]) -> UserState:
    """``state`` with one more history row (pids stay ascending: ``row`` has the largest)."""
    h = state.history
    return replace(state, history=History(*((*getattr(h, c), row[c]) for c in _COLS)))


def _seeded(artifacts) -> UserState:
    for user in artifacts.known_users():
        state = artifacts.seed_state(user)
        if len(state.history) and len(state.recent_orders) >= 2:
            return state
    raise AssertionError("the fixture has a user with a history")


def _ghost_row(state: UserState, pid: int) -> dict[str, int]:
    h = state.history
    return {
        "pid": pid,
        "count": 50,
        "first_order": 1,
        "last_order": state.n_orders,
        "first_ts": h.first_ts[0],
        "last_ts": max(h.last_ts),
        "pos_sum": 0,
    }


def test_unknown_product_in_basket_or_history_is_ignored_not_a_crash(artifacts):
    n = artifacts.n_products
    state = _seeded(artifacts)
    ts = state.last_ts + 60_000
    known = int(artifacts.popular[0])
    with_known = apply(state, CartAdd("k", state.user_id, known, ts))
    with_ghost = apply(with_known, CartAdd("g", state.user_id, n + 3, ts + 1))
    assert with_ghost.basket[-1] == n + 3

    base = recommend(with_known, artifacts, 10)
    got = recommend(with_ghost, artifacts, 10)
    assert n + 3 not in {i.product_id for i in got.items}
    # the unknown last add contributes nothing: same items and scores as without it (only the
    # cart position, a fact about the cart and not about a product, still counts it)
    a = candidate_features(with_known, artifacts, ts + 1)
    b = candidate_features(with_ghost, artifacts, ts + 1)
    assert np.array_equal(a.pids, b.pids)

    same = [
        c for name, c in COL.items() if not name.startswith("u_share_x_") and name != "u_pos_match"
    ]
    assert np.array_equal(a.X[:, same], b.X[:, same])
    assert base.items  # and the ranking still works

    # an unknown product in the history (and in a recent order) is never scored either
    ghost_hist = _with_history_row(state, _ghost_row(state, n + 3))
    ghost_hist = replace(ghost_hist, recent_orders=((*state.recent_orders[-1], n + 3),))
    ghost_hist = apply(ghost_hist, CartAdd("g2", state.user_id, n + 7, ts))
    rec = recommend(ghost_hist, artifacts, 10)
    assert len(rec.items) == 10
    assert {i.product_id for i in rec.items}.isdisjoint({n + 3, n + 7})
    c = candidate_features(ghost_hist, artifacts)
    assert c.pids.max() < n


def test_unknown_history_product_adds_no_aisle_affinity(artifacts):
    state = _seeded(artifacts)
    ghost = _with_history_row(state, _ghost_row(state, artifacts.n_products + 1))

    a = candidate_features(state, artifacts)
    b = candidate_features(ghost, artifacts)
    assert np.array_equal(a.pids, b.pids)
    assert np.array_equal(a.X[:, COL["aisle_aff"]], b.X[:, COL["aisle_aff"]])


def test_history_of_only_unknown_products_scores_like_no_history(artifacts):
    state = _seeded(artifacts)
    row = _ghost_row(state, artifacts.n_products + 2)
    only = replace(
        state, history=History(*((row[c],) for c in _COLS)), recent_orders=((row["pid"],),)
    )
    rec = recommend(only, artifacts, 10)
    assert len(rec.items) == 10
    assert row["pid"] not in {i.product_id for i in rec.items}
