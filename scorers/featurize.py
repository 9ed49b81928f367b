"""Candidate generation and the vectorised feature matrix (columns = declared features).

Candidates: the user's remembered products, the top co-occurring neighbours of the latest
basket items, the most popular products matching recent searches, and globally popular
products; products already in the basket are removed. Everything below is numpy over the
candidate vector; there is no per-candidate Python work.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain

import numpy as np

from features.registry import FEATURE_NAMES
from features.state import UserState
from scorers.artifacts import Artifacts

__all__ = ["COL", "DAY_MS", "Candidates", "candidate_features"]

DAY_MS = 86_400_000
COL = {name: i for i, name in enumerate(FEATURE_NAMES)}
N_BASKET_CONTEXT = 8
N_POPULAR_CANDIDATES = 40
RECENT_DECAY = 0.7


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
    searches = _search_terms(state, art, now)

    parts = [hp, art.popular[:N_POPULAR_CANDIDATES]]
    context = state.basket[-N_BASKET_CONTEXT:]
    for b in context:
        parts.append(_slice(art.nbr_ptr, art.nbr_ids, b))
    for _, toks, _, _ in searches:
        for t in toks:
            if t >= 0:
                parts.append(_slice(art.top_ptr, art.top_ids, t))
    cands = np.unique(np.concatenate(parts).astype(np.int64))
    if len(cands) and (cands[0] <= 0 or cands[-1] >= art.n_products):
        cands = cands[(cands > 0) & (cands < art.n_products)]
    if len(basket):
        cands = cands[~_member(np.sort(basket), cands)]
    n = len(cands)
    XT = np.zeros((len(COL), n), dtype=np.float64)
    count = np.zeros(n, dtype=np.float64)
    interval_days = np.zeros(n, dtype=np.float64)
    search_best = np.full(n, -1, dtype=np.int64)
    queries = tuple(q for q, _, _, _ in searches)
    if n == 0:
        return Candidates(cands, XT.T, count, interval_days, queries, search_best)

    n_orders = state.n_orders
    cur_pos = len(state.basket)
    ca = art.aisle[cands]
    # --- user x item: long-term history (computed full-length, masked by `kn`)
    if len(hp):
        idx = np.searchsorted(hp, cands)
        idx[idx >= len(hp)] = len(hp) - 1
        kn = (hp[idx] == cands).astype(np.float64)
        cols = np.array(
            (h.count, h.first_order, h.last_order, h.first_ts, h.last_ts, h.pos_sum),
            dtype=np.float64,
        )
        hc = cols[0]
        g = cols[:, idx]
        count = g[0] * kn
        first_o, last_o, first_t, last_t = g[1], g[2], g[3], g[4]
        c1 = np.maximum(count, 1.0)
        pos_mean = g[5] / c1
        since_o = n_orders - last_o + 1.0
        multi = count >= 2
        denom = np.maximum(count - 1.0, 1.0)
        int_o = np.maximum((last_o - first_o) / denom, 1.0)
        int_d = (last_t - first_t) / denom / DAY_MS
        days = np.maximum(now - last_t, 0.0) / DAY_MS
        over_o = np.clip(np.log(np.maximum(since_o, 1.0) / int_o), -3, 3) * multi
        over_d = np.clip(np.log((days + 1.0) / (int_d + 1.0)), -3, 3) * multi
        share = count / max(n_orders, 1)
        XT[COL["u_log_count"]] = np.log1p(count)
        XT[COL["u_share"]] = share
        XT[COL["u_in_last_order"]] = (last_o == n_orders) * kn
        XT[COL["u_orders_since"]] = np.log1p(np.maximum(since_o, 0.0)) * kn
        XT[COL["u_overdue_orders"]] = over_o
        XT[COL["u_overdue_orders_abs"]] = np.abs(over_o)
        XT[COL["u_overdue_days"]] = over_d
        XT[COL["u_overdue_days_abs"]] = np.abs(over_d)
        XT[COL["u_days_since"]] = np.log1p(days) * kn
        XT[COL["u_streak"]] = count / np.maximum(n_orders - first_o + 1.0, 1.0)
        XT[COL["u_pos_match"]] = -np.abs(np.log1p(pos_mean) - np.log1p(cur_pos)) * kn
        XT[COL["u_pos_ahead"]] = np.clip((pos_mean - cur_pos) / 10.0, -1.0, 1.0) * kn
        if cur_pos == 0:
            XT[COL["u_share_x_pos0"]] = share
        else:
            XT[COL["u_share_x_logpos"]] = share * np.log1p(cur_pos)
        if state.order_ts:
            since_order = max(now - state.order_ts[-1], 0) / DAY_MS
            XT[COL["u_share_x_days"]] = share * np.log1p(since_order)
        interval_days = int_d * multi
        # aisle / department affinity from the history
        total = hc.sum()
        a_hist = np.bincount(art.aisle[hp], weights=hc, minlength=art.n_aisles)
        d_hist = np.bincount(art.dept[hp], weights=hc, minlength=art.n_depts)
        XT[COL["aisle_aff"]] = a_hist[ca] / total
        XT[COL["dept_aff"]] = d_hist[art.dept[cands]] / total
    new = count == 0
    XT[COL["u_new"]] = new

    # --- user x item: the latest orders, and the ones that look like the current basket
    if state.recent_orders:
        _recent_orders(state, cands, XT)

    # --- session: basket co-occurrence and aisle mix
    if context:
        m = len(context)
        ids_parts, w_parts = [], []
        for j, b in enumerate(context):
            ids_parts.append(_slice(art.nbr_ptr, art.nbr_ids, b))
            w_parts.append(_slice(art.nbr_ptr, art.nbr_w, b) / (m - j))
        all_ids = np.concatenate(ids_parts).astype(np.int64)
        if len(all_ids):
            pos = np.searchsorted(cands, all_ids)
            pos[pos >= n] = n - 1
            hit = cands[pos] == all_ids
            norm = sum(1.0 / (m - j) for j in range(m))
            weights = np.concatenate(w_parts).astype(np.float64)
            XT[COL["cooc"]] = np.bincount(pos[hit], weights=weights[hit], minlength=n) / norm
            XT[COL["cooc_x_new"]] = XT[COL["cooc"]] * new
            last = len(all_ids) - len(ids_parts[-1])
            hl = hit[last:]
            XT[COL["cooc_last"]] = np.bincount(
                pos[last:][hl], weights=weights[last:][hl], minlength=n
            )
        ba = np.bincount(art.aisle[basket], minlength=art.n_aisles)
        bd = np.bincount(art.dept[basket], minlength=art.n_depts)
        XT[COL["basket_aisle"]] = ba[ca] / len(basket)
        XT[COL["basket_dept"]] = bd[art.dept[cands]] / len(basket)
        XT[COL["aisle_missing"]] = XT[COL["aisle_aff"]] * (ba[ca] == 0)
    else:
        XT[COL["aisle_missing"]] = XT[COL["aisle_aff"]]

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
        XT[COL["search_match"]] = best
        XT[COL["search_pending"]] = pending
        XT[COL["search_x_hist"]] = best * XT[COL["u_log_count"]]

    # --- item / global
    pop = art.pop[cands]
    XT[COL["g_pop"]] = pop
    XT[COL["g_reorder"]] = art.reorder[cands]
    XT[COL["g_pop_x_new"]] = pop * new
    return Candidates(cands, XT.T, count, interval_days, queries, search_best)


def _recent_orders(state: UserState, cands: np.ndarray, XT: np.ndarray) -> None:
    orders = state.recent_orders
    r = len(orders)
    lens = [len(o) for o in orders]
    flat = np.fromiter(chain.from_iterable(orders), dtype=np.int64, count=sum(lens))
    if not len(flat):
        return
    oidx = np.repeat(np.arange(r), lens)
    n = len(cands)
    pos = np.searchsorted(cands, flat)
    pos[pos >= n] = n - 1
    hit = cands[pos] == flat
    hpos, hord = pos[hit], oidx[hit]
    gamma = RECENT_DECAY ** (r - 1 - np.arange(r, dtype=np.float64))
    XT[COL["r_freq_decay"]] = np.bincount(hpos, weights=gamma[hord], minlength=n) / gamma.sum()
    last3 = hord >= r - 3
    XT[COL["r_last3"]] = np.bincount(hpos[last3], minlength=n) / min(3, r)
    if state.basket:
        # what followed the last added product in past carts (add order is kept)
        at = np.flatnonzero(flat == state.basket[-1])
        if len(at):
            nxt = np.concatenate([at + 1, at + 2])
            wts = np.concatenate([np.ones(len(at)), np.full(len(at), 0.5)])
            ok = nxt < len(flat)
            nxt, wts = nxt[ok], wts[ok]
            same = oidx[nxt] == oidx[np.concatenate([at, at])[ok]]
            nxt, wts = nxt[same & hit[nxt]], wts[same & hit[nxt]]
            XT[COL["r_next_after"]] = np.bincount(pos[nxt], weights=wts, minlength=n) / len(at)
        inside = _member(np.sort(np.array(state.basket, dtype=np.int64)), flat)
        overlap = np.bincount(oidx[inside], minlength=r).astype(np.float64)
        total = overlap.sum()
        if total > 0:
            votes = np.bincount(hpos, weights=overlap[hord], minlength=n)
            XT[COL["r_basket_knn"]] = votes / total
