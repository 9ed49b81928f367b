"""The batched path (``recommend_many``: all shoppers' candidates stacked in one feature pass)
gives exactly the per-shopper path's answers: same items, order, scores and reasons."""

from __future__ import annotations

from dataclasses import replace

import pytest

from features import apply
from features.state import UserState, empty_state
from loaders.instacart import orders_to_events, split_test_orders
from schemas.events import CartAdd, Search
from scorers import Artifacts, rank, recommend, recommend_many


def many_states(artifacts: Artifacts, orders, catalog) -> list[tuple[UserState, int | None]]:
    """Shoppers at every step of their test orders (with and without searches), cold users,
    unknown product ids, and later scoring times (searches fading): ``(state, now_ms)``."""
    _, test = split_test_orders(orders, 1)
    wanted = {o.order_id for o in test}
    out: list[tuple[UserState, int | None]] = []
    for rate, seed in ((0.0, 0), (1.0, 1), (0.3, 2)):
        states: dict[int, UserState] = {}
        for e in orders_to_events(orders, catalog, search_rate=rate, seed=seed):
            if getattr(e, "order_id", None) not in wanted and e.type != "search":
                continue
            if e.type == "search" and not e.event_id.startswith(tuple(f"o{o}-" for o in wanted)):
                continue
            s = states.get(e.user_id) or artifacts.seed_state(e.user_id) or empty_state(e.user_id)
            s = states[e.user_id] = apply(s, e, artifacts.config)
            out.append((s, None))
            out.append((s, s.last_ts + 7 * 60_000))
    # cold shoppers: no history, a basket and / or a search
    pids = [int(p) for p in artifacts.popular[:5]]
    cold = empty_state(10**9)
    out.append((cold, None))
    for i, pid in enumerate(pids):
        cold = apply(cold, CartAdd(f"c{i}", cold.user_id, pid, 1_000 + i), artifacts.config)
        out.append((cold, None))
    cold2 = apply(empty_state(10**9 + 1), Search("s", 10**9 + 1, "organic", 5), artifacts.config)
    out.append((cold2, None))
    # a basket holding ids the catalog does not know
    seeded = next(s for s, _ in out if len(s.history) and s.basket)
    out.append((replace(seeded, basket=(*seeded.basket, artifacts.n_products + 5)), None))
    return out


@pytest.fixture(scope="module")
def cases(artifacts, orders, catalog):
    return many_states(artifacts, orders, catalog)


def test_there_are_many_kinds_of_cases(cases):
    assert len(cases) > 200
    assert any(s.searches for s, _ in cases) and any(s.basket for s, _ in cases)
    assert any(not len(s.history) for s, _ in cases)


@pytest.mark.parametrize("chunk", [1, 7, 64, 10_000])
def test_batched_answers_equal_per_shopper_answers(artifacts, cases, chunk):
    single = [recommend(s, artifacts, 10, now) for s, now in cases]
    batched = []
    for lo in range(0, len(cases), chunk):
        part = cases[lo : lo + chunk]
        batched.extend(
            recommend_many([s for s, _ in part], artifacts, 10, now_ms=[n for _, n in part])
        )
    assert len(batched) == len(single)
    for a, b in zip(batched, single, strict=True):
        assert a == b
        assert repr(a.items) == repr(b.items)  # -0.0 and 0.0 are equal but print apart


def test_batched_scores_equal_per_shopper_scores_bit_for_bit(artifacts, cases):
    from scorers.rank import rank_many

    states = [s for s, _ in cases]
    nows = [n for _, n in cases]
    for (c, scores, top), (s, now) in zip(
        rank_many(states, artifacts, 10, nows), cases, strict=True
    ):
        c1, scores1, top1 = rank(s, artifacts, 10, now)
        assert c.pids.tolist() == c1.pids.tolist()
        assert scores.tobytes() == scores1.tobytes()
        assert c.X.tobytes() == c1.X.tobytes()
        assert top.tolist() == top1.tolist()


def test_empty_batch_and_other_k(artifacts, cases):
    assert recommend_many([], artifacts, 10) == []
    states = [s for s, _ in cases[:50]]
    assert recommend_many(states, artifacts, 3) == [recommend(s, artifacts, 3) for s in states]
