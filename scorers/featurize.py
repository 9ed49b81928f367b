"""Candidate generation and the vectorised feature matrix (columns = declared features).

Candidates: the user's remembered products, the top co-occurring neighbours of the latest
basket items, the most popular products matching recent searches, and globally popular
products; products already in the basket are removed. Everything below is numpy over the
candidate vector; there is no per-candidate Python work.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.registry import FEATURE_NAMES
from features.state import UserState
from scorers.artifacts import Artifacts

__all__ = ["COL", "DAY_MS", "Candidates", "candidate_features"]

DAY_MS = 86_400_000
COL = {name: i for i, name in enumerate(FEATURE_NAMES)}
N_BASKET_CONTEXT = 8
N_POPULAR_CANDIDATES = 40


@dataclass(frozen=True, slots=True)
class Candidates:
    """Candidates and their features, plus what the reasons need."""

    pids: np.ndarray
    X: np.ndarray
    count: np.ndarray
    interval_days: np.ndarray
    search_query: tuple[str, ...]
    search_best: np.ndarray
    """Index into ``search_query`` of the best matching search per candidate (-1: none)."""


def _slice(ptr: np.ndarray, data: np.ndarray, key: int) -> np.ndarray:
    if 0 <= key < len(ptr) - 1:
        return data[ptr[key] : ptr[key + 1]]
    return data[:0]


def _member(sorted_ids: np.ndarray, values: np.ndarray) -> np.ndarray:
    if len(sorted_ids) == 0:
        return np.zeros(len(values), dtype=bool)
    pos = np.searchsorted(sorted_ids, values)
    pos[pos >= len(sorted_ids)] = len(sorted_ids) - 1
    return sorted_ids[pos] == values


def _search_terms(
    state: UserState, art: Artifacts, now: int
) -> list[tuple[str, list[int], float, bool]]:
    """(query, token ids, decay weight, typed after the last cart add) of live searches."""
    half_life = art.config.search_half_life_ms
    out = []
    for query, ts in state.searches:
        weight = 0.5 ** (max(now - ts, 0) / half_life)
        if weight < 0.01:
            continue
        toks = [art.tokens.get(t, -1) for t in query.split()]
        out.append((query, toks, weight, ts >= state.last_add_ts))
    return out


def candidate_features(state: UserState, art: Artifacts, now_ms: int | None = None) -> Candidates:
    """Candidates for ``state`` and their feature matrix (float64, one column per feature)."""
    now = state.last_ts if now_ms is None else now_ms
    h = state.history
    hp = np.array(h.pid, dtype=np.int64)
    basket = np.array(state.basket, dtype=np.int64)
    size = art.n_products
    searches = _search_terms(state, art, now)

    parts = [hp, art.popular[:N_POPULAR_CANDIDATES].astype(np.int64)]
    context = state.basket[-N_BASKET_CONTEXT:]
    for b in context:
        parts.append(_slice(art.nbr_ptr, art.nbr_ids, b).astype(np.int64))
    for _, toks, _, _ in searches:
        for t in toks:
            if t >= 0:
                parts.append(_slice(art.top_ptr, art.top_ids, t).astype(np.int64))
    cands = np.unique(np.concatenate(parts))
    cands = cands[(cands > 0) & (cands < size)]
    if len(basket):
        cands = cands[~np.isin(cands, basket)]
    n = len(cands)
    X = np.zeros((n, len(COL)), dtype=np.float64)
    count = np.zeros(n, dtype=np.float64)
    interval_days = np.zeros(n, dtype=np.float64)
    search_best = np.full(n, -1, dtype=np.int64)
    queries = tuple(q for q, _, _, _ in searches)
    if n == 0:
        return Candidates(cands, X, count, interval_days, queries, search_best)

    n_orders = state.n_orders
    cur_pos = len(state.basket)
    # --- user x item: long-term history
    if len(hp):
        idx = np.searchsorted(hp, cands)
        idx[idx >= len(hp)] = len(hp) - 1
        known = hp[idx] == cands
        hc = np.array(h.count, dtype=np.float64)
        count = np.where(known, hc[idx], 0.0)
        ki = idx[known]
        kc = count[known]
        first_o = np.array(h.first_order, dtype=np.float64)[ki]
        last_o = np.array(h.last_order, dtype=np.float64)[ki]
        first_t = np.array(h.first_ts, dtype=np.float64)[ki]
        last_t = np.array(h.last_ts, dtype=np.float64)[ki]
        pos_mean = np.array(h.pos_sum, dtype=np.float64)[ki] / kc
        since_o = n_orders - last_o + 1.0
        multi = kc >= 2
        denom = np.maximum(kc - 1.0, 1.0)
        int_o = np.maximum((last_o - first_o) / denom, 1.0)
        int_d = (last_t - first_t) / denom / DAY_MS
        days = np.maximum(now - last_t, 0.0) / DAY_MS
        over_o = np.where(multi, np.clip(np.log(since_o / int_o), -3, 3), 0.0)
        over_d = np.where(multi, np.clip(np.log((days + 1.0) / (int_d + 1.0)), -3, 3), 0.0)
        share = kc / max(n_orders, 1)
        X[known, COL["u_log_count"]] = np.log1p(kc)
        X[known, COL["u_share"]] = share
        X[known, COL["u_in_last_order"]] = last_o == n_orders
        X[known, COL["u_orders_since"]] = np.log1p(since_o)
        X[known, COL["u_overdue_orders"]] = over_o
        X[known, COL["u_overdue_orders_abs"]] = np.abs(over_o)
        X[known, COL["u_overdue_days"]] = over_d
        X[known, COL["u_overdue_days_abs"]] = np.abs(over_d)
        X[known, COL["u_days_since"]] = np.log1p(days)
        X[known, COL["u_streak"]] = kc / np.maximum(n_orders - first_o + 1.0, 1.0)
        X[known, COL["u_pos_match"]] = -np.abs(np.log1p(pos_mean) - np.log1p(cur_pos))
        X[known, COL["u_share_x_pos0"]] = share * (cur_pos == 0)
        X[known, COL["u_share_x_logpos"]] = share * np.log1p(cur_pos)
        if state.order_ts:
            since_order = max(now - state.order_ts[-1], 0) / DAY_MS
            X[known, COL["u_share_x_days"]] = share * np.log1p(since_order)
        interval_days[known] = np.where(multi, int_d, 0.0)
        # aisle / department affinity from the history
        total = hc.sum()
        a_hist = np.bincount(art.aisle[hp], weights=hc, minlength=1)
        d_hist = np.bincount(art.dept[hp], weights=hc, minlength=1)
        ca, cd = art.aisle[cands], art.dept[cands]
        X[:, COL["aisle_aff"]] = _lookup(a_hist, ca) / total
        X[:, COL["dept_aff"]] = _lookup(d_hist, cd) / total
    new = count == 0
    X[:, COL["u_new"]] = new

    # --- session: basket co-occurrence and aisle mix
    if context:
        m = len(context)
        ids_parts, w_parts, last_parts = [], [], []
        for j, b in enumerate(context):
            ids = _slice(art.nbr_ptr, art.nbr_ids, b)
            ids_parts.append(ids)
            w = _slice(art.nbr_ptr, art.nbr_w, b).astype(np.float64)
            w_parts.append(w / (m - j))
            if j == m - 1:
                last_parts = [ids, w]
        all_ids = np.concatenate(ids_parts).astype(np.int64)
        if len(all_ids):
            pos = np.searchsorted(cands, all_ids)
            pos[pos >= n] = n - 1
            hit = cands[pos] == all_ids
            norm = sum(1.0 / (m - j) for j in range(m))
            cooc = np.bincount(pos[hit], weights=np.concatenate(w_parts)[hit], minlength=n)
            X[:, COL["cooc"]] = cooc / norm
            X[:, COL["cooc_x_new"]] = X[:, COL["cooc"]] * new
            ids, w = last_parts
            if len(ids):
                pos = np.searchsorted(cands, ids.astype(np.int64))
                pos[pos >= n] = n - 1
                hit = cands[pos] == ids
                X[:, COL["cooc_last"]] = np.bincount(pos[hit], weights=w[hit], minlength=n)
        ba = np.bincount(art.aisle[basket], minlength=1)
        bd = np.bincount(art.dept[basket], minlength=1)
        X[:, COL["basket_aisle"]] = _lookup(ba, art.aisle[cands]) / len(basket)
        X[:, COL["basket_dept"]] = _lookup(bd, art.dept[cands]) / len(basket)

    # --- session: search intent
    if searches:
        best = np.zeros(n)
        pending = np.zeros(n)
        for s_i, (_, toks, weight, is_pending) in enumerate(searches):
            match = np.zeros(n)
            for t in toks:
                if t >= 0:
                    match += _member(_slice(art.post_ptr, art.post_ids, t), cands)
            match /= max(len(toks), 1)
            decayed = weight * match
            better = decayed > best
            best = np.where(better, decayed, best)
            search_best[better] = s_i
            if is_pending:
                pending = np.maximum(pending, match)
        X[:, COL["search_match"]] = best
        X[:, COL["search_pending"]] = pending
        X[:, COL["search_x_hist"]] = best * X[:, COL["u_log_count"]]

    # --- item / global
    X[:, COL["g_pop"]] = art.pop[cands]
    X[:, COL["g_reorder"]] = art.reorder[cands]
    X[:, COL["g_pop_x_new"]] = art.pop[cands] * new
    return Candidates(cands, X, count, interval_days, queries, search_best)


def _lookup(counts: np.ndarray, keys: np.ndarray) -> np.ndarray:
    out = np.zeros(len(keys), dtype=np.float64)
    ok = keys < len(counts)
    out[ok] = counts[keys[ok]]
    return out
