"""Top-K with reasons: ``recommend`` (what the worker writes after every event; ``recommend_many``
for all the shoppers of a batch at once), ``fallback``
and ``batch_recommendation`` (the context-free answer seeded by ``stream-app build``).

Same inputs give the same output: time is the state's event time unless ``now_ms`` is given,
ties are broken by product id.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from features.state import UserState
from schemas.recommendation import RecoItem, Recommendation
from scorers.artifacts import Artifacts
from scorers.featurize import COL, Candidates, stacked_features

__all__ = [
    "batch_recommendation",
    "fallback",
    "rank",
    "rank_many",
    "recommend",
    "recommend_many",
]

MAX_NAME = 24
_GROUPS = (
    [c for n, c in COL.items() if n.startswith(("u_", "r_")) and n != "u_new"],  # history
    [COL["cooc"], COL["cooc_last"], COL["cooc_x_new"]],  # basket
    [COL["search_match"], COL["search_pending"], COL["search_x_hist"]],  # search
    [COL["aisle_aff"], COL["aisle_missing"]],  # affinity
)
HISTORY, BASKET, SEARCH, AFFINITY = range(4)
_FLAGS = [COL["cooc"], COL["search_match"], COL["aisle_aff"]]  # which groups apply
_GROUP_MATRIX = np.zeros((len(COL), len(_GROUPS)))
for _g, _cols in enumerate(_GROUPS):
    _GROUP_MATRIX[_cols, _g] = 1.0


def rank(
    state: UserState, art: Artifacts, k: int = 10, now_ms: int | None = None
) -> tuple[Candidates, np.ndarray, np.ndarray]:
    """Score every candidate; returns (candidates, scores, indexes of the top k, best first)."""
    return rank_many([state], art, k, [now_ms])[0]


def rank_many(
    states: Sequence[UserState],
    art: Artifacts,
    k: int = 10,
    now_ms: Sequence[int | None] | None = None,
) -> list[tuple[Candidates, np.ndarray, np.ndarray]]:
    """:func:`rank` of each of ``states``, their features built in one stacked pass.

    The product with the weights and the sort stay per shopper, on a contiguous copy of its
    rows: a matrix product's last digits depend on how BLAS splits the matrix, so scoring
    the stacked matrix at once would not give the bits of scoring each shopper alone.
    """
    if not states:
        return []
    stacked = stacked_features(states, art, now_ms)
    w = art.weights()
    bias = art.model.bias
    out = []
    for i in range(len(states)):
        c = stacked.candidates(i)
        scores = c.X @ w + bias
        if len(scores) == 0:
            out.append((c, scores, np.zeros(0, dtype=np.int64)))
            continue
        # candidates come in ascending product id, so a stable sort breaks score ties by id
        out.append((c, scores, (-scores).argsort(kind="stable")[:k]))
    return out


def recommend(
    state: UserState, art: Artifacts, k: int = 10, now_ms: int | None = None
) -> Recommendation:
    """The user's current top-K with reasons; basket items are never included.

    ``source="stream"``, ``event_ts=state.last_ts`` and ``updated_at=0`` (the edge stamps wall
    time). A user with no history and an empty basket gets popular items.
    """
    return recommend_many([state], art, k, [now_ms])[0]


def recommend_many(
    states: Sequence[UserState],
    art: Artifacts,
    k: int = 10,
    now_ms: Sequence[int | None] | None = None,
) -> list[Recommendation]:
    """:func:`recommend` of each of ``states`` (at ``now_ms[i]``, default: event time) in
    one batched pass; answer ``i`` equals ``recommend(states[i], art, k, now_ms[i])``."""
    ranked = rank_many(states, art, k, now_ms)
    return [
        _recommendation(state, art, k, c, scores, top)
        for state, (c, scores, top) in zip(states, ranked, strict=True)
    ]


def _recommendation(
    state: UserState, art: Artifacts, k: int, c: Candidates, scores: np.ndarray, top: np.ndarray
) -> Recommendation:
    items = _with_reasons(state, art, c, scores, top)
    if len(items) < k:  # tiny catalogs: top up with popular items
        have = {i.product_id for i in items} | set(state.basket)
        for pid in art.popular:
            if len(items) >= k:
                break
            if int(pid) not in have:
                items.append(RecoItem(int(pid), 0.0, "popular right now"))
    return stamped(state, art, items, len(c.pids))


def stamped(state: UserState, art: Artifacts, items: list[RecoItem], n: int) -> Recommendation:
    """A streamed answer of ``items`` ranked from ``n`` candidates: ``source="stream"``,
    ``event_ts=state.last_ts``, ``updated_at=0`` (the edge stamps wall time)."""
    return Recommendation(
        state.user_id,
        tuple(items),
        art.model.version,
        "stream",
        0,
        state.last_ts,
        {"n_candidates": n},
    )


def fallback(art: Artifacts, k: int = 10) -> Recommendation:
    """The global fallback (popular items) stored under ``reco:fallback``."""
    items = tuple(
        RecoItem(int(p), round(float(art.pop[p]), 4), "popular right now") for p in art.popular[:k]
    )
    return Recommendation(None, items, art.model.version, "fallback", 0, 0)


def batch_recommendation(art: Artifacts, user_id: int, k: int = 10) -> Recommendation | None:
    """The context-free answer of a known user from the seeded state (None when unknown)."""
    state = art.seed_state(user_id)
    if state is None:
        return None
    reco = recommend(state, art, k)
    return Recommendation(user_id, reco.items, reco.model, "batch", 0, reco.event_ts)


def _with_reasons(
    state: UserState, art: Artifacts, c: Candidates, scores: np.ndarray, top: np.ndarray
) -> list[RecoItem]:
    if not len(top):
        return []
    # contribution of each feature group to each top item's score, in one matrix product; the
    # rest is per item in plain Python (10 items: cheaper than a dozen tiny numpy calls)
    x_top = c.X[top]
    sums = ((x_top * art.weights()) @ _GROUP_MATRIX).tolist()
    flags = x_top[:, _FLAGS].tolist()
    pids, scores_, counts, days = (
        a[top].tolist() for a in (c.pids, scores, c.count, c.interval_days)
    )
    items = []
    for j, pid in enumerate(pids):
        n = int(counts[j])
        cooc, search, aff = flags[j]
        applies = (n > 0, cooc > 0, search > 0, aff >= 0.1)
        g, best = -1, 0.0  # the group adding most to the score, among those that apply
        for gi, v in enumerate(sums[j]):
            if applies[gi] and v > best:
                g, best = gi, v
        if g == SEARCH:
            query = c.search_query[c.search_best(int(top[j]))]
            reason = f"matches your search '{_short(query)}'"
        elif g == BASKET:
            reason = f"goes with {_short(art.name_of(c.cooc_source(int(top[j]))))} in your cart"
        elif g == HISTORY:
            if n == 1:
                reason = "bought once before"
            elif days[j] >= 1:
                reason = f"bought {n} times, usually every {round(days[j])} days"
            else:
                reason = f"bought {n} times"
        elif g == AFFINITY and (aisle := art.aisle_names.get(int(art.aisle[pid]), "")):
            reason = f"you often buy {_short(aisle)}"
        else:
            reason = "popular right now"
        items.append(RecoItem(pid, round(scores_[j], 4), reason))
    return items


def _short(name: str) -> str:
    return name if len(name) <= MAX_NAME else name[: MAX_NAME - 1].rstrip() + "…"
