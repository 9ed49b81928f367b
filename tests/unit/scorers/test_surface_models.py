"""Every surface model keeps the contract of ``recommend_many`` and does its own job: buy-again
from the history, basket complements that include never-bought items, search matches first."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from features import apply
from features.state import UserState, empty_state
from loaders.instacart import orders_to_events, split_test_orders
from schemas.events import Search
from scorers.discovery import discover_many, discovery_neighbours
from scorers.rank import rank_many
from scorers.surface_models import MODELS, basket, buy_again, search


@pytest.fixture(scope="module")
def states(artifacts, orders, catalog) -> list[UserState]:
    """Shoppers at every step of their test orders, with searches (rate 0.5), plus cold ones."""
    _, test = split_test_orders(orders, 1)
    wanted = {o.order_id for o in test}
    prefixes = tuple(f"o{o}-" for o in wanted)
    live: dict[int, UserState] = {}
    out = []
    for e in orders_to_events(orders, catalog, search_rate=0.5, seed=4):
        if not e.event_id.startswith(prefixes):
            continue
        s = live.get(e.user_id) or artifacts.seed_state(e.user_id) or empty_state(e.user_id)
        s = live[e.user_id] = apply(s, e, artifacts.config)
        out.append(s)
    cold = empty_state(10**9)
    out.append(cold)
    out.append(replace(cold, basket=(int(artifacts.popular[0]),), last_ts=5))
    # a basket holding ids the catalog does not know (a state outliving a rebuild)
    seeded = next(s for s in out if len(s.history) and s.basket)
    out.append(replace(seeded, basket=(*seeded.basket, artifacts.n_products + 5)))
    out.append(replace(seeded, basket=(artifacts.n_products + 7,)))
    return out


@pytest.mark.parametrize("name", sorted(MODELS))
def test_surface_keeps_the_recommend_contract(name, states, artifacts):
    model = MODELS[name]
    batched = model(states, artifacts, 10, None)
    assert len(batched) == len(states)
    for state, reco in zip(states, batched, strict=True):
        pids = [i.product_id for i in reco.items]
        assert len(pids) == len(set(pids)) <= 10
        assert not set(pids) & set(state.basket)
        assert reco.source == "stream" and reco.event_ts == state.last_ts
        assert reco.user_id == state.user_id
        assert all(i.reason for i in reco.items)
    # deterministic, and a batch gives each shopper's answer alone
    some = states[:: max(1, len(states) // 25)]
    alone = [model([s], artifacts, 10, None)[0] for s in some]
    assert alone == model(some, artifacts, 10, None)
    assert alone == model(some, artifacts, 10, None)


def test_buy_again_recommends_only_history_with_due_reasons(states, artifacts):
    for state, reco in zip(states, buy_again(states, artifacts, 10), strict=True):
        own = set(state.history.pid)
        assert all(i.product_id in own for i in reco.items)
        if len(own) >= 10 + len(state.basket):
            assert len(reco.items) == 10
    due = [i.reason for r in buy_again(states, artifacts, 10) for i in r.items]
    assert any(reason.startswith("due again: usually every ") for reason in due)


def test_buy_again_ignores_the_session(states, artifacts):
    s = next(s for s in states if s.basket and s.searches and len(s.history))
    plain = replace(s, basket=(), searches=())
    got = buy_again([s], artifacts, 30)[0]
    ref = [i for i in buy_again([plain], artifacts, 30)[0].items if i.product_id not in s.basket]
    assert list(got.items) == ref[: len(got.items)]


def test_basket_surface_returns_never_bought_complements(states, artifacts):
    with_cart = [s for s in states if s.basket and len(s.history)]
    found_new = 0
    for state, reco in zip(with_cart, basket(with_cart, artifacts, 10), strict=True):
        new = [i for i in reco.items if i.reason.startswith("new to you")]
        assert all(state.history.row(i.product_id) is None for i in new)
        found_new += len(new)
    assert found_new >= len(with_cart)  # at least one never-bought item per answer on average


def test_discovery_candidates_exclude_history_and_basket(states, artifacts):
    with_cart = [s for s in states if s.basket]
    for state, disc in zip(with_cart, discover_many(with_cart, artifacts, 50), strict=True):
        got = set(disc.pids.tolist())
        assert not got & set(state.history.pid)
        assert not got & set(state.basket)
        assert np.all(np.diff(disc.scores) <= 0)
        assert set(disc.sources.tolist()) <= set(state.basket)


def test_mild_lift_ranks_a_niche_complement_above_a_staple():
    # product 1 is bought with a staple (300 buyers) and a niche product (8 buyers) by the same
    # 4 shoppers each: raw counts tie, the lift-weighted list puts the niche one first
    size = 5
    buyers = np.array([0.0, 20.0, 300.0, 8.0, 50.0])
    pairs = np.array([1 * size + 2, 1 * size + 3, 1 * size + 4])
    ptr, ids, w = discovery_neighbours(pairs, np.array([4, 4, 1]), size, buyers)
    assert ids[ptr[1] : ptr[2]].tolist() == [3, 2, 4]
    assert np.all(np.diff(w[ptr[1] : ptr[2]]) < 0)


def test_search_surface_puts_matches_of_a_fresh_search_first(artifacts):
    user = artifacts.known_users()[0]
    seed = artifacts.seed_state(user)
    s = apply(seed, Search("q", user, "yogurt", seed.last_ts + 1_000), artifacts.config)
    reco = search([s], artifacts, 10)[0]
    assert reco.items and reco.items[0].reason == "matches your search 'yogurt'"
    assert "yogurt" in artifacts.name_of(reco.items[0].product_id).lower()
    # long after the search it is the blended answer again
    later = search([s], artifacts, 10, [s.last_ts + 10 * 3_600_000])[0]
    assert (
        later.items == MODELS["blended"]([s], artifacts, 10, [s.last_ts + 10 * 3_600_000])[0].items
    )


def test_discovery_bounds_hold_so_skipping_shoppers_changes_no_answer(states, artifacts):
    from scorers.discovery import best_possible, tighter_bound

    with_cart = [s for s in states if s.basket]
    coarse = best_possible(with_cart, artifacts)
    tight = tighter_bound(with_cart, artifacts)
    best = np.array(
        [d.scores[0] if len(d.scores) else 0.0 for d in discover_many(with_cart, artifacts, 1)]
    )
    assert np.all(coarse >= tight * (1 - 1e-9))
    assert np.all(tight >= best * (1 - 1e-9))
    assert np.all(best_possible([empty_state(1)], artifacts) == 0.0)


def test_blended_gives_strong_discoveries_the_last_slots(states, artifacts, monkeypatch):
    import scorers.surface_models as surfaces

    monkeypatch.setattr(surfaces, "DISCOVERY_MIN", 0.0)  # every shopper with a cart gets them
    with_cart = [s for s in states if s.basket and len(s.history)]
    plain = rank_many(with_cart, artifacts, 10)
    got = surfaces.blended(with_cart, artifacts, 10)
    changed = 0
    for state, reco, (c, _, top) in zip(with_cart, got, plain, strict=True):
        base = c.pids[top].tolist()
        pids = [i.product_id for i in reco.items]
        new = [i for i in reco.items if i.reason.startswith("new to you")]
        assert len(new) <= surfaces.DISCOVERY_SLOTS
        assert pids[: 10 - len(new)] == base[: 10 - len(new)]
        assert all(state.history.row(i.product_id) is None for i in new)
        assert [i.score for i in reco.items] == sorted((i.score for i in reco.items), reverse=True)
        changed += bool(new)
    assert changed > len(with_cart) // 2


def test_surfaces_many_equals_each_model_and_shares_the_work(states, artifacts):
    from scorers.surface_models import surfaces_many

    some = states[::3]
    later = [s.last_ts + 4 * 60_000 for s in some]
    for now in (None, later):
        got = surfaces_many(["basket", "blended", "search", "buy_again"], some, artifacts, 10, now)
        assert list(got) == ["basket", "blended", "search", "buy_again"]
        for name, answers in got.items():
            ref = MODELS[name](some, artifacts, 10, now)
            assert [(r.user_id, r.items) for r in answers] == [(r.user_id, r.items) for r in ref]
    assert list(surfaces_many(["search"], some, artifacts)) == ["search"]
    with pytest.raises(KeyError, match="unknown surface"):
        surfaces_many(["blended", "nope"], some, artifacts)


def test_saved_artifacts_give_the_same_surface_answers(states, artifacts, tmp_path):
    from scorers import Artifacts

    artifacts.save(tmp_path / "art")
    loaded = Artifacts.load(tmp_path / "art")
    for name in ("disc_ptr", "disc_ids", "disc_w"):
        assert np.array_equal(getattr(loaded, name), getattr(artifacts, name))
    some = [s for s in states if s.basket][::4]
    for name, model in MODELS.items():
        got = [r.items for r in model(some, loaded, 10, None)]
        assert got == [r.items for r in model(some, artifacts, 10, None)], name
