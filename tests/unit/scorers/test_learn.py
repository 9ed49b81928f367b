"""The re-ranker's learner: pairwise (default) and pointwise objectives, export, resume."""

from __future__ import annotations

import numpy as np
import pytest

from features.registry import FEATURE_NAMES
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


@pytest.mark.parametrize("objective", ["pairwise", "pointwise"])
def test_train_model_learns_from_training_orders_with_either_objective(
    train_orders, catalog, objective
):
    model, learner = train_model(
        train_orders, catalog, holdout_orders=2, epochs=1, objective=objective
    )
    assert model.meta["objective"] == objective
    assert model.meta["positives"] > 0 and learner.n_learned > model.meta["positives"]
    # what the shopper bought before is what they add next: the history count must count
    assert model.weight_of("u_log_count") + model.weight_of("u_share") > 0
