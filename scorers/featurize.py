"""Candidate generation and the vectorised feature matrix (columns = declared features).

Candidates: the user's remembered products, the top co-occurring neighbours of the latest
basket items, the most popular products matching recent searches, and globally popular
products; products already in the basket are removed. Everything below is numpy over the
candidate vector; there is no per-candidate Python work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from features.config import FeatureConfig, search_weight
from features.registry import FEATURE_NAMES
from features.state import UserState
from scorers.artifacts import Artifacts
from scorers.queryindex import QueryIndex, query_index
from scorers.userview import STATIC_FEATURES, UserView, user_view

__all__ = ["COL", "DAY_MS", "Candidates", "candidate_features", "live_searches"]

DAY_MS = 86_400_000
COL = {name: i for i, name in enumerate(FEATURE_NAMES)}
N_BASKET_CONTEXT = 8
N_POPULAR_CANDIDATES = 40
MAX_LIVE_SEARCHES = 3
_STATIC_COLS = np.array([COL[name] for name in STATIC_FEATURES])
_RECENT_COLS = np.array([COL["r_next_after"], COL["r_basket_knn"]])
_RECENCY = [1.0 / (m - np.arange(m)) for m in range(N_BASKET_CONTEXT + 1)]
"""Weights of the last ``m`` basket items, oldest first: ..., 1/3, 1/2, 1 (the last add)."""
_RECENCY_SUM = [float(r.sum()) for r in _RECENCY]


@dataclass(slots=True)  # not frozen: built on every rescore, never changed after
class Candidates:
    """Candidates and their features, plus what the reasons need.

    What only the reasons of the top items use is kept raw and resolved for those items alone
    (:meth:`search_best`, :meth:`cooc_source`), not for every candidate.
    """

    pids: np.ndarray
    X: np.ndarray
    count: np.ndarray
    interval_days: np.ndarray
    search_query: tuple[str, ...]
    search_decayed: tuple[np.ndarray, ...]
    """Per live search (as in ``search_query``): each candidate's decayed match with it."""
    cooc_hits: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None
    """The basket neighbours (a row of neighbours per basket context item): their candidate
    index, whether they are candidates, their weight, and the basket context items."""

    def search_best(self, row: int) -> int:
        """Index into ``search_query`` of the best matching search of candidate ``row`` (-1:
        none; ties go to the earlier search)."""
        decayed = [float(d[row]) for d in self.search_decayed]
        best = max(decayed, default=0.0)
        return decayed.index(best) if best > 0 else -1

    def cooc_source(self, row: int) -> int:
        """The basket product behind the strongest co-occurrence of candidate ``row`` (-1:
        none; ties go to the later basket item)."""
        if self.cooc_hits is None:
            return -1
        at, hit, weight, context = self.cooc_hits
        mine = (hit & (at == row)).nonzero()[0]
        if not len(mine):
            return -1
        w = weight[mine]
        best = int(mine[len(w) - 1 - int(w[::-1].argmax())])
        return int(context[best // (len(at) // len(context))])


def live_searches(
    state: UserState, now: int, config: FeatureConfig
) -> list[tuple[str, int, float]]:
    """``(query, ts, decay weight)`` of the searches that count in scoring at ``now``: the
    latest ``MAX_LIVE_SEARCHES`` whose weight has not fallen below the minimum. The worker's
    fade timer asks the same question, so both stop at the same time.

    >>> from features import DEFAULT_CONFIG
    >>> s = UserState(1, last_ts=10, searches=(("milk", 10),))
    >>> live_searches(s, 10 + 10 * 60_000, DEFAULT_CONFIG), live_searches(s, 10**8, DEFAULT_CONFIG)
    ([('milk', 10, 0.5)], [])
    """
    out = []
    for query, ts in state.searches[-MAX_LIVE_SEARCHES:]:
        weight = search_weight(now - ts, config)
        if weight:
            out.append((query, ts, weight))
    return out


def _search_terms(
    state: UserState, art: Artifacts, now: int
) -> list[tuple[str, QueryIndex, float, bool]]:
    """(query, its index, decay weight, typed after the last cart add) of live searches."""
    return [
        (query, query_index(art, query, art.queries), weight, ts >= state.last_add_ts)
        for query, ts, weight in live_searches(state, now, art.config)
    ]


def candidate_features(state: UserState, art: Artifacts, now_ms: int | None = None) -> Candidates:
    """Candidates for ``state`` and their feature matrix (float64, one column per feature)."""
    now = state.last_ts if now_ms is None else now_ms
    h = state.history
    view = user_view(state, art.aisle, art.n_aisles, art.views) if len(h) else None
    if view is not None and not len(view.hp):  # only products the catalog does not know
        view = None
    hp = view.hp if view is not None else np.zeros(0, dtype=np.int64)
    items, basket = _known_basket(state.basket, art.n_products)
    in_basket = np.zeros(art.n_products, dtype=bool)  # a product mask: one gather per test
    in_basket[basket] = True
    searches = _search_terms(state, art, now)

    # neighbours of the latest basket items: one gather from the padded neighbour table
    # (padding is product 0, which is never a candidate, so it drops out below)
    context = items[-N_BASKET_CONTEXT:]
    nbr_ids = nbr_w = None
    if context:
        ctx = basket[-N_BASKET_CONTEXT:]
        table_ids, table_w = art.neighbour_table()
        width = table_ids.shape[1]
        nbr_ids = table_ids[ctx].ravel()
        nbr_w = (table_w[ctx] * _RECENCY[len(ctx)][:, None]).ravel()
        n_last = width if len(ctx) else 0
        norm = _RECENCY_SUM[len(ctx)]
    parts = [view.candidates if view is not None else hp, art.popular[:N_POPULAR_CANDIDATES]]
    if nbr_ids is not None:
        parts.append(nbr_ids)
    parts.extend(qi.candidates for _, qi, _, _ in searches)
    cands = np.concatenate(parts).astype(np.int64, copy=False)  # a new array: sorted in place
    cands.sort()
    if len(cands) > 1:  # np.unique, without its per-call overhead
        cands = cands[np.concatenate(([True], cands[1:] != cands[:-1]))]
    if len(cands) and (cands[0] <= 0 or cands[-1] >= art.n_products):
        cands = cands[(cands > 0) & (cands < art.n_products)]
    if len(basket):
        cands = cands[~in_basket[cands]]
    n = len(cands)
    XT = np.zeros((len(COL), n), dtype=np.float64)
    queries = tuple(q for q, _, _, _ in searches)
    decayed_all: list[np.ndarray] = []
    cooc_hits = None
    if n == 0:
        return Candidates(cands, XT.T, np.zeros(0), np.zeros(0), queries, (), None)

    cur_pos = len(state.basket)
    ca = art.aisle[cands]
    pop = art.pop[cands]
    # --- user x item: history rows, checkout-stable parts memoised per session
    if view is not None:
        v = view
        n_h = len(hp)
        idx = hp.searchsorted(cands)
        np.minimum(idx, n_h - 1, out=idx)
        kn = (hp[idx] == cands).astype(np.float64)
        g = v.rows.take(idx, axis=1)  # (cheaper than v.rows[:, idx]; methods skip numpy's wrappers)
        g *= kn
        XT[_STATIC_COLS] = g[: len(_STATIC_COLS)]
        count, multi, last_t, int_d, log_pos = g[len(_STATIC_COLS) :]
        days = now - last_t
        np.maximum(days, 0.0, out=days)
        days /= DAY_MS
        # computed in place, in the feature's own row (no temporaries)
        # log((days + 1) / (usual days + 1)), clipped, for products bought at least twice
        over_d = XT[COL["u_overdue_days"]]
        np.add(days, 1.0, out=over_d)
        over_d /= int_d + 1.0
        np.log(over_d, out=over_d)
        np.maximum(over_d, -3.0, out=over_d)
        np.minimum(over_d, 3.0, out=over_d)
        over_d *= multi
        share = XT[COL["u_share"]]
        since = XT[COL["u_days_since"]]
        np.log1p(days, out=since)
        since *= kn
        pos_match = XT[COL["u_pos_match"]]  # -|log(1 + usual position) - log(1 + position)|
        np.subtract(log_pos, math.log1p(cur_pos), out=pos_match)
        np.abs(pos_match, out=pos_match)
        np.negative(pos_match, out=pos_match)
        pos_match *= kn
        if cur_pos == 0:
            XT[COL["u_share_x_pos0"]] = share
        else:
            XT[COL["u_share_x_logpos"]] = share * math.log1p(cur_pos)
        if state.order_ts:
            since_order = max(now - state.order_ts[-1], 0) / DAY_MS
            XT[COL["u_share_x_days"]] = share * math.log1p(since_order)
        interval_days = int_d * multi
        XT[COL["aisle_aff"]] = v.a_hist[ca] / v.total
        if len(v.flat) and items:
            recent = _recent_rows(v, items[-1], in_basket).take(idx, axis=1)
            recent *= kn
            XT[_RECENT_COLS] = recent
    else:
        count = interval_days = np.zeros(n)

    new = count == 0
    XT[COL["u_new"]] = new
    if state.total_items:
        XT[COL["u_new_x_explore"]] = new * (len(h) / state.total_items)

    # --- session: basket co-occurrence and aisle mix
    if context:
        if nbr_ids is not None and len(nbr_ids):
            pos = cands.searchsorted(nbr_ids)
            np.minimum(pos, n - 1, out=pos)
            hit = cands[pos] == nbr_ids
            wh = nbr_w * hit  # neighbours that are not candidates add exactly 0.0 below
            XT[COL["cooc"]] = np.bincount(pos, weights=wh, minlength=n) / norm
            XT[COL["cooc_x_new"]] = XT[COL["cooc"]] * new
            last = len(pos) - n_last  # the neighbours of the last add
            XT[COL["cooc_last"]] = np.bincount(pos[last:], weights=wh[last:], minlength=n)
            cooc_hits = (pos, hit, nbr_w, ctx)  # resolved for the top items (reasons)
        last_pid = items[-1]
        XT[COL["aisle_next"]] = art.aisle_next[art.aisle[last_pid], ca]
        ba = np.bincount(art.aisle[basket], minlength=art.n_aisles)
        in_aisle = ba[ca]
        XT[COL["basket_aisle"]] = in_aisle / len(basket)
        XT[COL["aisle_missing"]] = XT[COL["aisle_aff"]] * (in_aisle == 0)
    else:
        XT[COL["aisle_missing"]] = XT[COL["aisle_aff"]]

    # --- session: search intent
    if searches:
        acc = np.zeros((n, 2))  # best decayed match, best decayed head-noun match
        pending = None
        for _, qi, weight, is_pending in searches:
            found = qi.lookup(cands)
            decayed = found * weight
            np.maximum(acc, decayed, out=acc)
            decayed_all.append(decayed[:, 0])
            if is_pending:
                match = found[:, 0]
                pending = match if pending is None else np.maximum(pending, match)
        best = acc[:, 0]
        XT[COL["search_match"]] = best
        if pending is not None:
            XT[COL["search_pending"]] = pending
        XT[COL["search_x_hist"]] = best * XT[COL["u_log_count"]]
        XT[COL["search_head"]] = acc[:, 1]
        XT[COL["search_x_pop"]] = best * pop

    # --- item / global
    XT[COL["g_pop"]] = pop
    XT[COL["g_reorder"]] = art.reorder[cands]
    XT[COL["g_pop_x_new"]] = pop * new
    return Candidates(cands, XT.T, count, interval_days, queries, tuple(decayed_all), cooc_hits)


def _known_basket(basket: tuple[int, ...], n_products: int) -> tuple[tuple[int, ...], np.ndarray]:
    """The basket items the catalog arrays know (ids in ``(0, n_products)``), as a tuple and
    as an int64 array; others (stored states outliving a rebuild) are ignored by scoring.

    >>> _known_basket((3, 12, 5), 10)
    ((3, 5), array([3, 5]))
    """
    arr = np.array(basket, dtype=np.int64)
    if basket and (min(basket) <= 0 or max(basket) >= n_products):  # the usual case: no
        arr = arr[(arr > 0) & (arr < n_products)]
        basket = tuple(arr.tolist())
    return basket, arr


def _recent_rows(v: UserView, last_add: int, in_basket: np.ndarray) -> np.ndarray:
    """The basket-dependent recent-order features, per history row."""
    n_h = len(v.hp)
    out = np.zeros((len(_RECENT_COLS), n_h))
    # what followed the last added product in past carts (add order is kept)
    follow = v.followers(last_add)
    if follow is not None:
        rows, weights, times = follow
        out[0] = np.bincount(rows, weights=weights, minlength=n_h) / times
    # recent orders that look like the current basket vote for their other products
    inside = in_basket[v.flat]
    overlap = np.bincount(v.oidx, weights=inside, minlength=len(v.gamma))  # basket items each
    total = np.count_nonzero(inside)
    if total > 0:
        out[1] = np.bincount(v.known_row, weights=overlap[v.known_order], minlength=n_h) / total
    return out
