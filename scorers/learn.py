"""Learning the re-ranker's weights with river, and exporting them to the numpy scorer.

:class:`RerankerLearner` wraps a river ``StandardScaler | LogisticRegression`` pipeline with
river's verbs (``learn_one`` / ``predict_one`` / ``predict_proba_one``) plus
``learn_pair`` and ``learn_from(state, artifacts, target)``, which turns one observed cart add
into training pairs: the added product (if it is among the candidates) against ``neg_per_pos``
other candidates drawn with the learner's seeded RNG. :meth:`RerankerLearner.to_model` folds
the scaler into the weights (``w / std``, ``bias - sum(w * mean / std)``) so the worker scores
raw features with one matrix-vector product.

Objectives. ``pairwise`` (RankNet-style, the learner's default): the scorer only has to
*order* one user's candidates, so the classifier learns "which of these two was added" from
the difference of their standardised features (a random half of the pairs flipped, no
intercept); on the dev file this beats pointwise logistic regression on the same rows (HR@10
0.3787 vs 0.3784 without searches, 0.533 vs 0.516 with searches; see scorers/README.md).
``pointwise`` keeps the classic "is this the added product" classifier. ``approx_hr`` (the
default of :func:`train_model`) is pairwise with a top-of-the-list focus (what made LightGBM's
lambdarank beat its binary objective): after the uniform pairwise passes, one pass over every
cart add with *all* its candidates, where the pairs are weighted by the gradient of a smoothed
HR@10 (the added product's rank replaced by a sum of sigmoids, ApproxNDCG-style) at the current
weights. A cart add whose product is safely in the top 10, or hopelessly far from it, teaches
~nothing; the candidates ranked around the added product teach most (they are also the ones
drawn, by importance sampling). Shipped model: HR@10 0.3787 -> 0.3855 without searches,
0.5325 -> 0.5372 with them.

Leakage: :func:`train_model` builds the artifacts it generates examples with from each user's
orders *before* the ``holdout_orders`` whose cart adds become examples, exactly like the
evaluation does for the test period (see :func:`training_examples`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from river import linear_model, optim

from features.registry import FEATURE_NAMES
from features.state import UserState, empty_state
from features.update import apply
from schemas.events import CartAdd
from scorers.artifacts import Artifacts, build_artifacts
from scorers.featurize import candidate_features
from scorers.model import LinearModel

if TYPE_CHECKING:  # pragma: no cover
    from loaders.catalog import Catalog
    from loaders.instacart import Order

__all__ = ["OBJECTIVES", "RerankerLearner", "train_model", "training_examples"]

OBJECTIVES = ("pairwise", "pointwise", "approx_hr")


class RerankerLearner:
    """Online logistic re-ranker over the declared features (river), exportable to numpy.

    Features are standardised with a fixed scaler (``fit_scaler`` on the training rows, or
    carried over from a model file by :meth:`from_model`); the classifier is river's
    ``LogisticRegression`` with plain SGD, and the exported weights are the running average of
    its weights (Polyak averaging: far less noisy than the last SGD step, same cost).

    >>> learner = RerankerLearner(seed=0)
    >>> for _ in range(200):
    ...     learner.learn_one({"cooc": 1.0, "g_pop": 0.1}, True)
    ...     learner.learn_one({"cooc": 0.0, "g_pop": 0.9}, False)
    >>> learner.predict_one({"cooc": 1.0, "g_pop": 0.1})
    True
    >>> learner.to_model().weight_of("cooc") > 0
    True
    """

    def __init__(
        self,
        seed: int = 0,
        lr: float = 0.01,
        l2: float = 0.0,
        neg_per_pos: int = 20,
        refresh_every: int = 200,
        average_every: int = 100,
        objective: str = "pairwise",
        hr_k: int = 10,
        hr_tau: float = 0.5,
        hr_width: float = 2.0,
        hr_boost: float = 5.0,
    ) -> None:
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        self.objective = objective
        self.seed = seed
        self.lr = lr
        self.neg_per_pos = neg_per_pos
        self.refresh_every = refresh_every
        self.average_every = average_every
        # approx_hr: the smoothed HR@k is sigmoid((k - 0.5 - rank) / hr_width), the rank the sum
        # of sigmoid((s_j - s_added) / hr_tau); hr_boost scales the (small) pair weights
        self.hr_k = hr_k
        self.hr_tau = hr_tau
        self.hr_width = hr_width
        self.hr_boost = hr_boost
        self.rng = random.Random(seed)
        self.mean = np.zeros(len(FEATURE_NAMES))
        self.std = np.ones(len(FEATURE_NAMES))
        # a pair's label says which side was added: no intercept (it would only learn the flips)
        intercept_lr = lr if objective == "pointwise" else 0.0
        self.clf = linear_model.LogisticRegression(
            optimizer=optim.SGD(lr), l2=l2, intercept_lr=intercept_lr
        )
        self.n_learned = 0
        self._avg_w = np.zeros(len(FEATURE_NAMES))
        self._avg_b = 0.0
        self._avg_n = 0
        self._base: Artifacts | None = None
        self._scored: Artifacts | None = None
        self._since_refresh = 0

    def fit_scaler(self, X: np.ndarray) -> None:
        """Standardise with the mean and standard deviation of these rows (constant
        features are left at scale 1 and never move off 0)."""
        self.mean = X.mean(axis=0) if len(X) else np.zeros(X.shape[1])
        std = X.std(axis=0) if len(X) else np.ones(X.shape[1])
        self.std = np.where(std > 1e-9, std, 1.0)

    def _scale(self, x: dict[str, float]) -> dict[str, float]:
        return {
            name: (x.get(name, 0.0) - m) / s
            for name, m, s in zip(FEATURE_NAMES, self.mean.tolist(), self.std.tolist(), strict=True)
        }

    # ---- river verbs
    def learn_one(self, x: dict[str, float], y: bool) -> None:
        """One SGD step of the classifier on a (raw) feature row (pointwise)."""
        self._step(self._scale(x), y)

    def learn_pair(
        self, pos: np.ndarray, neg: np.ndarray, weight: float = 1.0, tau: float = 1.0
    ) -> None:
        """One SGD step on a (raw) feature-row pair: ``pos`` was added rather than ``neg``.

        The classifier sees the standardised difference divided by ``tau``, in a random
        orientation (label True for ``pos - neg``, False for ``neg - pos``), so it stays centred
        without an intercept; ``weight`` scales the step (river's sample weight).
        """
        diff = (pos - neg) / (self.std * tau)
        flip = self.rng.random() >= 0.5
        x = (-diff if flip else diff).tolist()
        self._step(dict(zip(FEATURE_NAMES, x, strict=True)), not flip, weight)

    def learn_candidates(self, X: np.ndarray, pos: int) -> None:
        """Learn from one cart add: ``X`` the (raw) rows of its candidates, ``pos`` the row of
        the added product.

        pairwise / pointwise: the added row against ``neg_per_pos`` other rows drawn uniformly.
        approx_hr: ``neg_per_pos`` pairs drawn in proportion to how much they move the smoothed
        HR@k at the current weights, each weighted so that the steps add up (in expectation) to
        the gradient of that smoothed HR@k over *all* candidates (see :meth:`hr_pair_weights`).
        """
        if self.objective == "approx_hr":
            if len(X) < 2:  # nothing to rank the added product against
                return
            weights, draw = self.hr_pair_weights(X, pos)
            picks = self.rng.choices(range(len(X)), weights=draw.tolist(), k=self.neg_per_pos)
            total = float(draw.sum())
            for i in picks:
                # importance sampling: E[weight / p(draw) / n] over the draws = sum of weights
                w = float(weights[i]) * total / (float(draw[i]) * self.neg_per_pos)
                self.learn_pair(X[pos], X[i], w * self.hr_boost, self.hr_tau)
            return
        others = [i for i in range(len(X)) if i != pos]
        negs = self.rng.sample(others, min(self.neg_per_pos, len(others)))
        if self.objective == "pairwise":
            for i in negs:
                self.learn_pair(X[pos], X[i])
        else:
            self.learn_one(_row(X[pos]), True)
            for i in negs:
                self.learn_one(_row(X[i]), False)

    def hr_pair_weights(self, X: np.ndarray, pos: int) -> tuple[np.ndarray, np.ndarray]:
        """Pair weights and draw probabilities (unnormalised) of each row against ``pos``.

        With ``d_j = (s_j - s_pos) / tau`` at the current weights, the smoothed rank is
        ``r = sum_j sigmoid(d_j)`` and the smoothed hit ``h = sigmoid((k - 0.5 - r) / width)``.
        The gradient of ``h`` is the sum over pairs of the logistic pair step
        ``sigmoid(d_j) * (z_pos - z_j) / tau`` (what :meth:`learn_pair` takes) times
        ``h (1 - h) (1 - sigmoid(d_j)) / width``: the weight returned. Rows are drawn in
        proportion to ``sigmoid(d_j) (1 - sigmoid(d_j))`` (plus a floor), the size of their term.

        The added product on top (row 29), just outside the top 10 (row 19), hopelessly low
        (row 0): only the middle case has pairs worth learning from, and its drawn rows are
        the ones next to it.

        >>> learner = RerankerLearner(objective="approx_hr")
        >>> learner.clf._weights.update({"cooc": 1.0})
        >>> X = np.zeros((30, len(FEATURE_NAMES)))
        >>> X[:, FEATURE_NAMES.index("cooc")] = np.arange(30)  # row 29 ranks first
        >>> [round(float(learner.hr_pair_weights(X, p)[0].max()), 3) for p in (29, 19, 0)]
        [0.005, 0.123, 0.0]
        >>> sorted(learner.hr_pair_weights(X, 19)[1].argsort()[-2:].tolist())
        [18, 20]
        """
        weights = self.clf.weights
        w = np.array([weights.get(n, 0.0) for n in FEATURE_NAMES])
        s = ((X - self.mean) / self.std) @ w
        sig = 1.0 / (1.0 + np.exp(-np.clip((s - s[pos]) / self.hr_tau, -50.0, 50.0)))
        sig[pos] = 0.0
        h = 1.0 / (1.0 + np.exp(-np.clip((self.hr_k - 0.5 - sig.sum()) / self.hr_width, -50, 50)))
        pair = h * (1.0 - h) * (1.0 - sig) / self.hr_width
        draw = sig * (1.0 - sig) + 1e-6
        pair[pos] = draw[pos] = 0.0
        return pair, draw

    def restart_average(self) -> None:
        """Forget the running average (a new phase of training starts from here)."""
        self._avg_w[:] = 0.0
        self._avg_b = 0.0
        self._avg_n = 0

    def _step(self, scaled: dict[str, float], y: bool, weight: float = 1.0) -> None:
        """One SGD step on standardised features, then the running average."""
        self.clf.learn_one(scaled, y, w=weight)
        self.n_learned += 1
        if self.n_learned % self.average_every == 0:
            w = self.clf.weights
            self._avg_w += np.array([w.get(n, 0.0) for n in FEATURE_NAMES])
            self._avg_b += float(self.clf.intercept)
            self._avg_n += 1

    def predict_proba_one(self, x: dict[str, float]) -> dict[bool, float]:
        """Class probabilities of one row."""
        return self.clf.predict_proba_one(self._scale(x))

    def predict_one(self, x: dict[str, float]) -> bool:
        """True when the row looks like the product the shopper adds next."""
        return self.predict_proba_one(x)[True] >= 0.5

    # ---- from the stream
    def learn_from(self, state: UserState, art: Artifacts, target: int) -> bool:
        """Learn from one cart add observed in ``state``; False when the target was not among
        the candidates (nothing to learn for the ranking)."""
        c = candidate_features(state, art)
        rows = np.flatnonzero(c.pids == target)
        if not len(rows):
            return False
        self.learn_candidates(c.X, int(rows[0]))
        self._since_refresh += 1
        return True

    def scaled_weights(self) -> tuple[np.ndarray, float]:
        """(weights, intercept) on standardised features: averaged when available."""
        if self._avg_n:
            return self._avg_w / self._avg_n, self._avg_b / self._avg_n
        w = self.clf.weights
        return np.array([w.get(n, 0.0) for n in FEATURE_NAMES]), float(self.clf.intercept)

    def to_model(
        self, version: str = "linear-river", meta: dict[str, Any] | None = None
    ) -> LinearModel:
        """The learned weights on raw (unscaled) features, as a model file; the scaler and
        scaled weights go into ``meta`` so :meth:`from_model` can resume learning."""
        w_scaled, b_scaled = self.scaled_weights()
        raw = w_scaled / self.std
        bias = b_scaled - float((w_scaled * self.mean / self.std).sum())
        info = {
            "learner": "river LogisticRegression (SGD, averaged) on standardised features",
            "objective": self.objective,
            "seed": self.seed,
            "rows": self.n_learned,
            **(meta or {}),
            "scaler": {
                "mean": [round(v, 6) for v in self.mean.tolist()],
                "std": [round(v, 6) for v in self.std.tolist()],
            },
        }
        return LinearModel.from_weights(
            dict(zip(FEATURE_NAMES, raw.tolist(), strict=True)), bias, version, info
        )

    @classmethod
    def from_model(cls, model: LinearModel, seed: int = 0, **kwargs: Any) -> RerankerLearner:
        """A learner starting from a model file's weights (to keep learning online), with the
        model's objective unless ``objective=`` says otherwise."""
        kwargs.setdefault("objective", model.meta.get("objective", "pointwise"))
        learner = cls(seed=seed, **kwargs)
        scaler = model.meta.get("scaler")
        if scaler and len(scaler.get("mean", ())) == len(FEATURE_NAMES):
            learner.mean = np.array(scaler["mean"], dtype=np.float64)
            learner.std = np.array(scaler["std"], dtype=np.float64)
        raw = model.vector()
        learner.clf._weights.update(
            {n: float(v) for n, v in zip(FEATURE_NAMES, (raw * learner.std).tolist(), strict=True)}
        )
        learner.clf.intercept = model.bias + float((raw * learner.mean).sum())
        return learner

    def artifacts(self, base: Artifacts | None = None) -> Artifacts:
        """``base`` scoring with the current weights (re-exported every ``refresh_every``
        learned cart adds, so online scoring stays cheap)."""
        if base is not None and base is not self._base:
            self._base, self._scored = base, None
        assert self._base is not None, "call artifacts(base) once first"
        if self._scored is None or self._since_refresh >= self.refresh_every:
            w, b = self.clf.weights, float(self.clf.intercept)
            scaled = np.array([w.get(n, 0.0) for n in FEATURE_NAMES])
            raw = scaled / self.std
            model = LinearModel.from_weights(
                dict(zip(FEATURE_NAMES, raw.tolist(), strict=True)),
                b - float((scaled * self.mean / self.std).sum()),
                "linear-river-online",
            )
            self._scored = self._base.with_model(model)
            self._since_refresh = 0
        return self._scored


def _row(x: np.ndarray) -> dict[str, float]:
    # Dense on purpose: the scaler must see the zeros to learn the true mean and variance.
    return dict(zip(FEATURE_NAMES, x.tolist(), strict=True))


def training_examples(
    orders: Sequence[Order],
    catalog: Catalog,
    *,
    holdout_orders: int = 8,
    search_rate: float = 0.3,
    seed: int = 0,
    neg_per_pos: int | None = 20,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate feature rows from the last ``holdout_orders`` orders of every user.

    The artifacts that generate the candidates come from the orders *before* those (no
    leakage); returns ``(X, y, group)`` where ``group`` numbers the cart add a row belongs to
    (its rows are contiguous, the added product first). ``neg_per_pos=None`` keeps *all* the
    other candidates (~7M rows on the dev file, so stored as float32).
    """
    from loaders.instacart import orders_to_events, split_test_orders
    from scorers.evaluation.run import test_period_events

    early, _ = split_test_orders(orders, holdout_orders)
    art = build_artifacts(early, catalog)
    events = test_period_events(
        orders_to_events(orders, catalog, search_rate=search_rate, seed=seed), early
    )
    rng = random.Random(seed)
    states: dict[int, UserState] = {}
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    groups: list[np.ndarray] = []
    g = 0
    for event in events:
        state = states.get(event.user_id)
        if state is None:
            state = art.seed_state(event.user_id) or empty_state(event.user_id)
        if isinstance(event, CartAdd):
            c = candidate_features(state, art)
            rows = np.flatnonzero(c.pids == event.product_id)
            if len(rows):
                others = np.flatnonzero(c.pids != event.product_id)
                if neg_per_pos is not None:
                    pick = rng.sample(range(len(others)), min(neg_per_pos, len(others)))
                    others = others[pick]
                idx = np.concatenate([rows[:1], others])
                xs.append(c.X[idx] if neg_per_pos is not None else c.X[idx].astype(np.float32))
                y = np.zeros(len(idx), dtype=bool)
                y[0] = True
                ys.append(y)
                groups.append(np.full(len(idx), g))
                g += 1
        states[event.user_id] = apply(state, event, art.config)
        if progress is not None:
            progress(1)
    if not xs:
        width = len(FEATURE_NAMES)
        return np.zeros((0, width)), np.zeros(0, bool), np.zeros(0, np.int64)
    return np.vstack(xs), np.concatenate(ys), np.concatenate(groups)


def train_model(
    orders: Sequence[Order],
    catalog: Catalog,
    *,
    holdout_orders: int = 8,
    search_rate: float = 0.3,
    seed: int = 0,
    epochs: int = 2,
    lr: float = 0.01,
    neg_per_pos: int = 20,
    objective: str = "approx_hr",
    hr_epochs: int = 1,
    version: str | None = None,
    meta: dict[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[LinearModel, RerankerLearner]:
    """Train the re-ranker on ``orders`` (training orders only!) and export it.

    Pairwise: every training cart add gives one (added, other candidate) pair per negative;
    pointwise: every row is an example. ``epochs`` passes, in a seeded random order.
    approx_hr: the pairwise passes on ``neg_per_pos`` random negatives per cart add, then
    ``hr_epochs`` passes over the cart adds with all their candidates
    (:meth:`RerankerLearner.learn_candidates`), averaged afresh.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    X, y, group = training_examples(
        orders,
        catalog,
        holdout_orders=holdout_orders,
        search_rate=search_rate,
        seed=seed,
        neg_per_pos=None if objective == "approx_hr" else neg_per_pos,
        progress=progress,
    )
    learner = RerankerLearner(seed=seed, neg_per_pos=neg_per_pos, lr=lr, objective=objective)
    rng = np.random.default_rng(seed)
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]]) if len(group) else group
    ends = np.r_[starts[1:], len(group)].astype(np.int64)
    if objective == "approx_hr":
        # the uniform pairs (and the scaler) of the pairwise objective: neg_per_pos random
        # other candidates per cart add, drawn from all of them
        sample = [
            np.r_[a, a + 1 + rng.choice(b - a - 1, min(neg_per_pos, b - a - 1), replace=False)]
            for a, b in zip(starts.tolist(), ends.tolist(), strict=True)
        ]
        keep = np.concatenate(sample) if sample else np.zeros(0, np.int64)
        all_X, X, y, group = X, X[keep].astype(np.float64), y[keep], group[keep]
    learner.fit_scaler(X)
    if objective in ("pairwise", "approx_hr"):
        # rows of a cart add are contiguous, the added product first (training_examples)
        first = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
        negatives = np.flatnonzero(~y)
        positives = first[np.searchsorted(first, negatives, side="right") - 1]
        for _ in range(epochs):
            for i in rng.permutation(len(negatives)).tolist():
                learner.learn_pair(X[positives[i]], X[negatives[i]])
        if objective == "approx_hr":
            learner.restart_average()
            for _ in range(hr_epochs):
                for k in rng.permutation(len(starts)).tolist():
                    learner.learn_candidates(all_X[starts[k] : ends[k]].astype(np.float64), 0)
    else:
        rows = [dict(zip(FEATURE_NAMES, x, strict=True)) for x in X.tolist()]
        labels = y.tolist()
        for _ in range(epochs):
            for i in rng.permutation(len(labels)).tolist():
                learner.learn_one(rows[i], labels[i])
    info = {
        "trained_on_orders": len(orders),
        "holdout_orders": holdout_orders,
        "train_search_rate": search_rate,
        "epochs": epochs,
        **({"hr_epochs": hr_epochs} if objective == "approx_hr" else {}),
        "neg_per_pos": neg_per_pos,
        "lr": lr,
        "positives": int(y.sum()),
        **(meta or {}),
    }
    return learner.to_model(version or f"linear-river-{objective}", info), learner
