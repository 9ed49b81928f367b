"""One contract test over the core components (river's ``test_estimators`` style): purity,
determinism, round trips, bounded state and tolerance of missing features."""

from __future__ import annotations

import copy
import sys
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features import FEATURE_NAMES, FeatureConfig, UserState, apply, empty_state, fold
from schemas.events import CartAdd, Checkout, Search
from schemas.recommendation import Recommendation
from scorers import Artifacts, LinearModel, batch_recommendation, fallback, recommend
from scorers.featurize import candidate_features
from scorers.learn import RerankerLearner
from scorers.userview import new_view_memo, user_view

T0 = 1_500_000_000_000


def _events_for(artifacts, user_id, seed):
    rng = np.random.default_rng(seed)
    pids = [int(p) for p in artifacts.popular[:30]]
    out, ts = [], T0 + 10**10
    for i in range(int(rng.integers(1, 25))):
        ts += int(rng.integers(1_000, 600_000))
        kind = rng.random()
        if kind < 0.7:
            out.append(CartAdd(f"e{i}", user_id, pids[int(rng.integers(len(pids)))], ts))
        elif kind < 0.85:
            out.append(Search(f"e{i}", user_id, str(rng.choice(["yogurt", "milk", "banana"])), ts))
        else:
            out.append(Checkout(f"e{i}", user_id, ts))
    return out


def _states(artifacts):
    users = artifacts.known_users()[:6]
    states = [empty_state(999_999)]
    for n, u in enumerate(users):
        s = artifacts.seed_state(u)
        states.append(s)
        states.append(fold(s, _events_for(artifacts, u, n)))
    return states


def test_components_are_pure_deterministic_and_round_trip(artifacts, tmp_path):
    states = _states(artifacts)
    for state in states:
        before = copy.deepcopy(state)
        a = recommend(state, artifacts, 10)
        b = recommend(state, artifacts, 10)
        assert a == b, "same inputs give the same answer"
        assert state == before, "recommend does not mutate the state"
        assert UserState.from_bytes(state.to_bytes()) == state
        assert recommend(UserState.from_bytes(state.to_bytes()), artifacts, 10) == a
        assert not set(state.basket) & {i.product_id for i in a.items}
        assert a.event_ts == state.last_ts and a.source == "stream"
    artifacts.save(tmp_path / "art")
    loaded = Artifacts.load(tmp_path / "art")
    for state in states:
        assert recommend(state, loaded, 10) == recommend(state, artifacts, 10)
    for u in artifacts.known_users()[:5]:
        assert loaded.seed_state(u) == artifacts.seed_state(u)


def test_state_size_is_bounded(artifacts):
    cfg = FeatureConfig(max_history=20, max_recent_orders=3, max_order_ts=4)
    u = artifacts.known_users()[0]
    s = empty_state(u)
    for n in range(30):
        ts = T0 + n * 86_400_000
        adds = [CartAdd(f"a{n}-{i}", u, 1000 + n * 7 + i, ts + i) for i in range(7)]
        s = fold(s, [*adds, Checkout(f"c{n}", u, ts + 100)], cfg)
    assert len(s.history) == 20 and len(s.recent_orders) == 3 and len(s.order_ts) == 4
    assert len(s.to_bytes()) < 2_000


def test_missing_and_unknown_features_are_tolerated(artifacts):
    state = _states(artifacts)[2]
    partial = LinearModel.from_weights({"u_log_count": 1.0, "not_a_feature": 5.0}, version="p")
    empty = LinearModel("empty", (), (), 0.0)
    for model in (partial, empty):
        reco = recommend(state, artifacts.with_model(model), 10)
        assert len(reco.items) == 10 and reco.model == model.version


def test_every_declared_feature_is_a_column(artifacts):
    c = candidate_features(_states(artifacts)[2], artifacts)
    assert c.X.shape[1] == len(FEATURE_NAMES)
    assert np.isfinite(c.X).all()


def test_top10_value_stays_under_1kb(artifacts):
    for state in _states(artifacts):
        assert len(recommend(state, artifacts, 10).to_bytes()) <= 1024


def test_reasons_are_short_and_human(artifacts):
    state = _states(artifacts)[2]
    reasons = [i.reason for i in recommend(state, artifacts, 10).items]
    assert all(0 < len(r) <= 60 for r in reasons)
    starts = ("bought", "goes with", "matches", "popular", "you often")
    assert any(r.startswith(starts) for r in reasons)


def test_search_changes_the_answer_and_is_named_in_the_reason(artifacts):
    u = artifacts.known_users()[0]
    s = artifacts.seed_state(u)
    after = apply(s, Search("q1", u, "yogurt", s.last_ts + 60_000))
    reco = recommend(after, artifacts, 10)
    assert reco != recommend(s, artifacts, 10)
    assert any("yogurt" in i.reason for i in reco.items)


def test_fallback_and_batch_answers(artifacts):
    fb = fallback(artifacts, 10)
    assert fb.user_id is None and fb.source == "fallback" and len(fb.items) == 10
    u = artifacts.known_users()[0]
    batch = batch_recommendation(artifacts, u, 10)
    assert batch is not None and batch.source == "batch" and batch.user_id == u
    assert batch_recommendation(artifacts, 424242, 10) is None
    assert Recommendation.from_bytes(batch.to_bytes()) == batch


def test_learner_round_trips_through_a_model_file(artifacts):
    learner = RerankerLearner(seed=3)
    state = _states(artifacts)[2]
    c = candidate_features(state, artifacts)
    learner.fit_scaler(c.X)
    for target in c.pids[:20].tolist():
        learner.learn_from(state, artifacts, target)
    model = learner.to_model()
    resumed = RerankerLearner.from_model(model, seed=3)
    np.testing.assert_allclose(resumed.mean, learner.mean, atol=1e-5)
    assert learner.predict_one(dict(zip(FEATURE_NAMES, c.X[0].tolist(), strict=True))) in (
        True,
        False,
    )


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.integers(0, 10_000), st.integers(1, 20))
def test_basket_items_never_recommended_and_output_deterministic(artifacts, seed, k):
    u = artifacts.known_users()[seed % len(artifacts.known_users())]
    state = fold(artifacts.seed_state(u), _events_for(artifacts, u, seed))
    a = recommend(state, artifacts, k)
    assert a == recommend(replace(state), artifacts, k)
    pids = [i.product_id for i in a.items]
    assert len(pids) == len(set(pids)) == k
    assert not set(pids) & set(state.basket)
    scores = [i.score for i in a.items]
    assert scores == sorted(scores, reverse=True)


def test_model_file_round_trip(tmp_path):
    m = LinearModel.from_weights(
        {"cooc": 1.5, "g_pop": -0.25}, bias=0.5, version="t", meta={"note": "x"}
    )
    m.save(tmp_path / "m.json")
    assert LinearModel.load(tmp_path / "m.json") == m


@pytest.mark.parametrize("raw", [b"{}", b"not json", b'{"version": "v", "features": ["a"]}'])
def test_bad_model_file_is_invalid_data(tmp_path, raw):
    from schemas.errors import InvalidData

    (tmp_path / "m.json").write_bytes(raw)
    with pytest.raises(InvalidData):
        LinearModel.load(tmp_path / "m.json")


def test_view_memo_never_serves_another_states_view(artifacts):
    u = artifacts.known_users()[0]
    s = artifacts.seed_state(u)
    h = s.history
    # same user, order count, last checkout and history size, different counts
    other = replace(s, history=replace(h, count=tuple(c + 1 for c in h.count)))
    a = recommend(s, artifacts, 10)
    b = recommend(other, artifacts, 10)
    fresh = replace(artifacts, views=new_view_memo())
    assert recommend(other, fresh, 10) == b
    assert recommend(s, fresh, 10) == a


def test_neighbour_table_holds_the_csr_lists(artifacts):
    ids, w = artifacts.neighbour_table()
    ptr = artifacts.nbr_ptr
    lens = np.diff(ptr)
    assert lens.max() > 0 and ids.shape == (len(lens), lens.max())
    for p in np.flatnonzero(lens).tolist():
        n = int(lens[p])
        assert ids[p, :n].tolist() == artifacts.nbr_ids[ptr[p] : ptr[p + 1]].tolist()
        assert w[p, :n].tolist() == artifacts.nbr_w[ptr[p] : ptr[p + 1]].tolist()
        assert not ids[p, n:].any() and not w[p, n:].any()


def test_basket_cooccurrence_is_the_recency_weighted_neighbour_sum(artifacts):
    u = artifacts.known_users()[0]
    state = artifacts.seed_state(u)
    basket = [int(p) for p in artifacts.popular[:3]]
    for i, pid in enumerate(basket):
        state = apply(state, CartAdd(f"b{i}", u, pid, state.last_ts + 1000 * (i + 1)))
    c = candidate_features(state, artifacts)
    # the direct definition, from the CSR lists: last add weight 1, the one before 1/2, ...
    recency = [1.0 / (len(basket) - j) for j in range(len(basket))]
    expected: dict[int, float] = {}
    ptr = artifacts.nbr_ptr
    for r, src in zip(recency, basket, strict=True):
        for nb, wt in zip(
            artifacts.nbr_ids[ptr[src] : ptr[src + 1]].tolist(),
            artifacts.nbr_w[ptr[src] : ptr[src + 1]].tolist(),
            strict=True,
        ):
            expected[nb] = expected.get(nb, 0.0) + wt * r
    got = dict(zip(c.pids.tolist(), c.X[:, FEATURE_NAMES.index("cooc")].tolist(), strict=True))
    assert any(expected.get(p, 0.0) > 0 for p in got)
    for p, x in got.items():
        assert x == pytest.approx(expected.get(p, 0.0) / sum(recency), abs=1e-12)
    for p in expected:  # every neighbour is a candidate unless it is in the basket
        assert p in got or p in basket


def _deep_size(obj: object, seen: set[int]) -> int:
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return obj.nbytes + sys.getsizeof(np.zeros(0))
    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        size += sum(_deep_size(k, seen) + _deep_size(v, seen) for k, v in obj.items())
    elif isinstance(obj, tuple | list):
        size += sum(_deep_size(x, seen) for x in obj)
    elif hasattr(obj, "__slots__"):
        size += sum(_deep_size(getattr(obj, a), seen) for a in obj.__slots__ if hasattr(obj, a))
    return size


def test_view_size_estimate_tracks_what_the_view_holds(artifacts):
    # The view memo's byte budget relies on UserView.nbytes(): it must follow the real size.
    ratios = []
    for u in artifacts.known_users():
        view = user_view(artifacts.seed_state(u), artifacts.aisle, artifacts.n_aisles)
        ratios.append(view.nbytes() / _deep_size(view, set()))
    assert 0.8 < float(np.median(ratios)) < 1.25
    assert min(ratios) > 0.4 and max(ratios) < 1.5


def test_view_memo_keeps_to_its_byte_budget(artifacts):
    memo = new_view_memo()
    memo.max_bytes = 600_000
    users = artifacts.known_users()
    for u in users:
        user_view(artifacts.seed_state(u), artifacts.aisle, artifacts.n_aisles, memo)
    assert 1 < len(memo) < len(users) and memo.nbytes <= 600_000
