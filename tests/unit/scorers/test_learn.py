"""The re-ranker's learner: pairwise (default), pointwise and approx_hr objectives, export,
resume."""

from __future__ import annotations

import numpy as np
import pytest

from features.registry import FEATURE_NAMES
from scorers.featurize import candidate_features
from scorers.learn import RerankerLearner, train_model

COL = {n: i for i, n in enumerate(FEATURE_NAMES)}


def _pairs(n: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Added products have more co-occurrence with the basket; popularity is pure noise."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        pos, neg = np.zeros(len(FEATURE_NAMES)), np.zeros(len(FEATURE_NAMES))
        pos[COL["cooc"]], neg[COL["cooc"]] = rng.uniform(0.5, 1.0), rng.uniform(0.0, 0.6)
        pos[COL["g_pop"]], neg[COL["g_pop"]] = rng.uniform(0, 1, 2)
        out.append((pos, neg))
    return out


def test_pairwise_learner_ranks_by_the_signal_and_ignores_the_noise():
    learner = RerankerLearner(seed=0)
    pairs = _pairs(2000)
    learner.fit_scaler(np.array([x for pair in pairs for x in pair]))
    for pos, neg in pairs:
        learner.learn_pair(pos, neg)
    model = learner.to_model()
    assert model.weight_of("cooc") > 1.0
    assert abs(model.weight_of("g_pop")) < 0.2 * model.weight_of("cooc")
    assert model.meta["objective"] == "pairwise"
    held_out = _pairs(500, seed=1)
    w = model.vector()
    right = sum(float(pos @ w) > float(neg @ w) for pos, neg in held_out)
    assert right / len(held_out) > 0.8


def test_pairwise_learning_has_no_intercept_to_drift():
    learner = RerankerLearner(seed=0)
    for pos, neg in _pairs(300):
        learner.learn_pair(pos, neg)
    assert learner.clf.intercept == 0.0


def test_resumed_learner_keeps_the_objective_of_its_model_file():
    pairwise = RerankerLearner(seed=0, objective="pairwise").to_model()
    pointwise = RerankerLearner(seed=0, objective="pointwise").to_model()
    assert RerankerLearner.from_model(pairwise).objective == "pairwise"
    assert RerankerLearner.from_model(pointwise).objective == "pointwise"
    assert RerankerLearner.from_model(pairwise, objective="pointwise").objective == "pointwise"


def test_unknown_objective_is_refused():
    with pytest.raises(ValueError, match="objective"):
        RerankerLearner(objective="listwise")


@pytest.mark.parametrize("objective", ["pairwise", "pointwise", "approx_hr"])
def test_train_model_learns_from_training_orders_with_either_objective(
    train_orders, catalog, objective
):
    model, learner = train_model(
        train_orders, catalog, holdout_orders=2, epochs=1, objective=objective
    )
    assert model.meta["objective"] == objective
    assert model.meta["positives"] > 0 and learner.n_learned > model.meta["positives"]
    # what the shopper bought before, and lately, is what they add next
    assert model.weight_of("u_new") < 0
    assert model.weight_of("r_freq_decay") > 0
    if objective != "approx_hr":  # approx_hr shares the history weight out differently
        assert model.weight_of("u_log_count") + model.weight_of("u_share") > 0
    else:
        assert model.meta["hr_epochs"] == 1


def _cart_add(rank: int, n: int = 30) -> tuple[np.ndarray, int]:
    """``n`` candidates whose ``cooc`` orders them (row n-1 first); ``g_pop`` says which row
    was added: the added row sits at ``rank`` (0-based) under the cooc-only ranking."""
    X = np.zeros((n, len(FEATURE_NAMES)))
    X[:, COL["cooc"]] = np.arange(n)
    pos = n - 1 - rank
    X[pos, COL["g_pop"]] = 1.0
    return X, pos


def _moved_by(rank: int) -> float:
    learner = RerankerLearner(seed=0, objective="approx_hr")
    learner.clf._weights.update({"cooc": 1.0})
    X, pos = _cart_add(rank)
    for _ in range(20):
        learner.learn_candidates(X, pos)
    return learner.clf.weights.get("g_pop", 0.0)


def test_approx_hr_learns_where_the_top_10_is_decided():
    # the same cart add teaches g_pop only when it is near the top-10 boundary: not when the
    # added product already comes first, nor when it is hopelessly far down
    near, top, far = _moved_by(10), _moved_by(0), _moved_by(25)
    assert near > 0.05
    assert 0.0 <= top < 0.02 * near
    assert 0.0 <= far < 0.02 * near


def test_approx_hr_learns_the_signal_from_scratch_and_resumes_online(artifacts):
    rng = np.random.default_rng(0)
    learner = RerankerLearner(seed=0, objective="approx_hr")
    for _ in range(300):
        X = np.zeros((40, len(FEATURE_NAMES)))
        X[:, COL["cooc"]] = rng.uniform(0.0, 0.6, 40)
        X[:, COL["g_pop"]] = rng.uniform(0.0, 1.0, 40)
        pos = int(rng.integers(40))
        X[pos, COL["cooc"]] = rng.uniform(0.5, 1.0)
        learner.learn_candidates(X, pos)
    model = learner.to_model()
    assert model.meta["objective"] == "approx_hr"
    assert model.weight_of("cooc") > 1.0
    assert abs(model.weight_of("g_pop")) < 0.2 * model.weight_of("cooc")
    resumed = RerankerLearner.from_model(model)
    assert resumed.objective == "approx_hr"
    state = artifacts.seed_state(artifacts.known_users()[0])
    assert state is not None
    target = int(candidate_features(state, artifacts).pids[0])
    before = resumed.n_learned
    assert resumed.learn_from(state, artifacts, target)
    assert resumed.n_learned == before + resumed.neg_per_pos
