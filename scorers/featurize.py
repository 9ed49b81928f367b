"""Candidate generation and the vectorised feature matrix (columns = declared features).

Candidates: the user's remembered products, the top co-occurring neighbours of the latest
basket items, the most popular products matching recent searches, and globally popular
products; products already in the basket are removed. Everything below is numpy over the
candidate vector; there is no per-candidate Python work.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from features.config import FeatureConfig, search_weight
from features.registry import FEATURE_NAMES
from features.state import UserState
from scorers.artifacts import Artifacts
from scorers.queryindex import QueryIndex, query_index
from scorers.userview import STATIC_FEATURES, UserView, user_view

__all__ = [
    "COL",
    "DAY_MS",
    "Candidates",
    "Stacked",
    "candidate_features",
    "live_searches",
    "stacked_features",
]

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
    return stacked_features([state], art, [now_ms]).candidates(0)


@dataclass(slots=True)
class Stacked:
    """The candidates of several shoppers in one matrix: shopper ``i`` owns the columns
    ``bounds[i]`` of ``XT`` (and the same entries of ``pids``, ``count``, ``interval_days``);
    :meth:`candidates` gives them back as that shopper's :class:`Candidates`."""

    pids: np.ndarray
    XT: np.ndarray
    """(features, all candidates), C-contiguous."""
    count: np.ndarray
    interval_days: np.ndarray
    bounds: list[tuple[int, int]]
    search_query: list[tuple[str, ...]]
    search_decayed: list[tuple[np.ndarray, ...]]
    nbr: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None
    """All basket neighbours: stacked candidate index, hit, weight, basket context item (one
    per row of ``width`` neighbours)."""
    nbr_bounds: list[tuple[int, int]]
    """Per shopper: its rows of basket context items in ``nbr`` (empty: no basket)."""

    def candidates(self, i: int) -> Candidates:
        """Shopper ``i``'s candidates; ``X`` is a C-contiguous ``(features, n)`` block,
        transposed, laid out exactly as a single shopper's matrix (so that ``X @ w`` gives
        the same bits as scoring that shopper alone)."""
        a, b = self.bounds[i]
        queries = self.search_query[i]
        if a == b:
            XT = np.zeros((len(COL), 0))
            return Candidates(self.pids[a:b], XT.T, np.zeros(0), np.zeros(0), queries, (), None)
        XT = np.ascontiguousarray(self.XT[:, a:b])
        hits = None
        lo, hi = self.nbr_bounds[i]
        if self.nbr is not None and hi > lo:
            pos, hit, weight, ctx = self.nbr
            width = len(pos) // len(ctx)
            r = slice(lo * width, hi * width)
            hits = (pos[r] - a, hit[r], weight[r], ctx[lo:hi])
        return Candidates(
            self.pids[a:b],
            XT.T,
            self.count[a:b],
            self.interval_days[a:b],
            queries,
            self.search_decayed[i],
            hits,
        )


@dataclass(slots=True)
class _Shopper:
    """What one shopper contributes to the stacked pass (its per-shopper, pre-numpy part)."""

    index: int
    state: UserState
    now: int
    view: UserView | None
    items: tuple[int, ...]
    basket: np.ndarray
    searches: list[tuple[str, QueryIndex, float, bool]]


def _shopper(index: int, state: UserState, art: Artifacts, now_ms: int | None) -> _Shopper:
    now = state.last_ts if now_ms is None else now_ms
    view = user_view(state, art.aisle, art.n_aisles, art.views) if len(state.history) else None
    if view is not None and not len(view.hp):  # only products the catalog does not know
        view = None
    items, basket = _known_basket(state.basket, art.n_products)
    return _Shopper(index, state, now, view, items, basket, _search_terms(state, art, now))


def _keyed(lens: list[int], values: np.ndarray, scale: int) -> np.ndarray:
    """``values`` (a new int64 array, changed in place) plus ``scale`` x the segment of each
    (``lens[0]`` values of segment 0, then ``lens[1]`` of segment 1, ...)."""
    if len(lens) > 1:
        values += np.repeat(np.arange(len(lens)) * scale, lens)
    return values


def stacked_features(
    states: Sequence[UserState], art: Artifacts, now_ms: Sequence[int | None] | None = None
) -> Stacked:
    """Candidates and features of all ``states`` (scored at ``now_ms[i]``, default: the
    state's event time) in one pass: element-wise numpy over the stacked candidates; sums in
    the same order as a single shopper's. Shopper ``i``'s part equals
    ``candidate_features(states[i], art, now_ms[i])`` bit for bit."""
    n_states = len(states)
    nows = now_ms if now_ms is not None else [None] * n_states
    shoppers = [_shopper(i, s, art, nows[i]) for i, s in enumerate(states)]
    # shoppers with a history view first: the history block then works on one column range
    shoppers.sort(key=lambda sh: sh.view is None)
    n_seg = len(shoppers)
    n_p = art.n_products
    n_aisles = art.n_aisles
    table_ids, table_w = art.neighbour_table()
    width = table_ids.shape[1]

    # --- candidates: per shopper (segment) ascending product ids, as keys seg * n_p + pid
    parts: list[np.ndarray] = []
    part_lens: list[int] = []
    popular = art.popular[:N_POPULAR_CANDIDATES]
    ctx_parts: list[np.ndarray] = []
    ctx_lens: list[int] = []
    for sh in shoppers:
        view = sh.view
        own = [view.candidates if view is not None else np.zeros(0, dtype=np.int64), popular]
        if sh.items:
            ctx = sh.basket[-N_BASKET_CONTEXT:]
            ctx_parts.append(ctx)
            ctx_lens.append(len(ctx))
            own.append(table_ids[ctx].ravel())
        else:
            ctx_lens.append(0)
        own.extend(qi.candidates for _, qi, _, _ in sh.searches)
        parts.extend(own)
        part_lens.append(sum(len(o) for o in own))
    raw = np.concatenate(parts).astype(np.int64, copy=False)
    if len(raw) and (raw.min() <= 0 or raw.max() >= n_p):  # padding (0) or unknown ids
        ok = (raw > 0) & (raw < n_p)
        keys = raw[ok]
        if n_seg > 1:
            keys += np.repeat(np.arange(n_seg) * n_p, part_lens)[ok]
    else:
        keys = _keyed(part_lens, raw, n_p)
    keys.sort(kind="stable")  # timsort: each shopper's keys are already a block, partly in runs
    if len(keys) > 1:
        keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
    blens = [len(sh.basket) for sh in shoppers]
    if sum(blens) and len(keys):
        bkeys = _keyed(blens, np.concatenate([sh.basket for sh in shoppers]), n_p)
        bkeys.sort()
        at = bkeys.searchsorted(keys)
        np.minimum(at, len(bkeys) - 1, out=at)
        keys = keys[bkeys[at] != keys]
    seg = keys // n_p
    cands = keys - seg * n_p
    counts = np.bincount(seg, minlength=n_seg)
    ends = np.cumsum(counts).tolist()
    starts = [0, *ends[:-1]]
    n = len(cands)
    XT = np.zeros((len(COL), n), dtype=np.float64)
    count = np.zeros(n)
    interval_days = np.zeros(n)

    # per-segment scalars, repeated over each segment's candidates in one call
    views = [sh.view for sh in shoppers if sh.view is not None]
    n_v = len(views)
    nv = ends[n_v - 1] if n_v else 0  # candidates of shoppers with a view: columns [0, nv)
    scal = np.zeros((8, n_seg))
    for j, sh in enumerate(shoppers):
        st = sh.state
        cur_pos = len(st.basket)
        if sh.view is not None:
            scal[0, j] = sh.now
            scal[1, j] = math.log1p(cur_pos)
            scal[2, j] = 1.0 if cur_pos == 0 else 0.0
            scal[3, j] = 0.0 if cur_pos == 0 else math.log1p(cur_pos)
            if st.order_ts:
                scal[4, j] = math.log1p(max(sh.now - st.order_ts[-1], 0) / DAY_MS)
            scal[5, j] = sh.view.total
        if st.total_items:
            scal[6, j] = len(st.history) / st.total_items
        scal[7, j] = _RECENCY_SUM[ctx_lens[j]] if ctx_lens[j] else 1.0
    rep = np.repeat(scal, counts, axis=1)
    now_r, lpos_r, pos0_r, logpos_r, sdays_r, total_r, explore_r, norm_r = rep

    ca = art.aisle[cands]
    pop = art.pop[cands]
    # --- user x item: history rows of the shoppers with a view, columns [0, nv)
    if n_v and nv:
        hlens = [len(v.hp) for v in views]
        hkeys = _keyed(hlens, np.concatenate([v.hp for v in views]), n_p)
        hends = np.cumsum(hlens)
        idx = hkeys.searchsorted(keys[:nv])
        # within each shopper's own rows, as a single shopper's search clips to its last
        last_row = np.repeat(hends - 1, counts[:n_v]) if n_v > 1 else int(hends[0]) - 1
        np.minimum(idx, last_row, out=idx)
        kn = (hkeys[idx] == keys[:nv]).astype(np.float64)
        rows = np.concatenate([v.rows for v in views], axis=1) if n_v > 1 else views[0].rows
        g = rows.take(idx, axis=1)
        g *= kn
        XT[_STATIC_COLS, :nv] = g[: len(_STATIC_COLS)]
        count_v, multi, last_t, int_d, log_pos = g[len(_STATIC_COLS) :]
        count[:nv] = count_v
        days = now_r[:nv] - last_t
        np.maximum(days, 0.0, out=days)
        days /= DAY_MS
        over_d = XT[COL["u_overdue_days"], :nv]
        np.add(days, 1.0, out=over_d)
        over_d /= int_d + 1.0
        np.log(over_d, out=over_d)
        np.maximum(over_d, -3.0, out=over_d)
        np.minimum(over_d, 3.0, out=over_d)
        over_d *= multi
        share = XT[COL["u_share"], :nv]
        since = XT[COL["u_days_since"], :nv]
        np.log1p(days, out=since)
        since *= kn
        pos_match = XT[COL["u_pos_match"], :nv]  # -|log(1 + usual position) - log(1 + now)|
        np.subtract(log_pos, lpos_r[:nv], out=pos_match)
        np.abs(pos_match, out=pos_match)
        np.negative(pos_match, out=pos_match)
        pos_match *= kn
        np.multiply(share, pos0_r[:nv], out=XT[COL["u_share_x_pos0"], :nv])
        np.multiply(share, logpos_r[:nv], out=XT[COL["u_share_x_logpos"], :nv])
        np.multiply(share, sdays_r[:nv], out=XT[COL["u_share_x_days"], :nv])
        np.multiply(int_d, multi, out=interval_days[:nv])
        a_hist = np.concatenate([v.a_hist for v in views])
        vseg = seg[:nv] * n_aisles
        vseg += ca[:nv]
        np.divide(a_hist[vseg], total_r[:nv], out=XT[COL["aisle_aff"], :nv])
        recent = None
        for j, sh in enumerate(shoppers[:n_v]):
            v = sh.view
            if len(v.flat) and sh.items:
                if recent is None:
                    recent = np.zeros((len(_RECENT_COLS), len(hkeys)))
                lo = int(hends[j]) - len(v.hp)
                in_basket = np.zeros(n_p, dtype=bool)
                in_basket[sh.basket] = True
                _recent_rows(v, sh.items[-1], in_basket, recent[:, lo : int(hends[j])])
        if recent is not None:
            recent = recent.take(idx, axis=1)
            recent *= kn
            XT[_RECENT_COLS, :nv] = recent

    new = count == 0
    XT[COL["u_new"]] = new
    np.multiply(new, explore_r, out=XT[COL["u_new_x_explore"]])

    # --- session: basket co-occurrence and aisle mix
    nbr = None
    nbr_bounds = [(0, 0)] * n_seg
    aff = XT[COL["aisle_aff"]]
    if ctx_parts:
        ctx = np.concatenate(ctx_parts)
        rec = np.concatenate([_RECENCY[m] for m in ctx_lens if m])
        nbr_keys = _keyed([m * width for m in ctx_lens], table_ids[ctx].ravel(), n_p)
        nbr_w = (table_w[ctx] * rec[:, None]).ravel()
        cends = np.cumsum(ctx_lens).tolist()
        nbr_bounds = [(e - m, e) for e, m in zip(cends, ctx_lens, strict=True)]
        if len(nbr_keys) and n:
            pos = keys.searchsorted(nbr_keys)
            np.minimum(pos, n - 1, out=pos)
            hit = keys[pos] == nbr_keys
            wh = nbr_w * hit  # neighbours that are not candidates add exactly 0.0 below
            cooc = XT[COL["cooc"]]
            np.divide(np.bincount(pos, weights=wh, minlength=n), norm_r, out=cooc)
            np.multiply(cooc, new, out=XT[COL["cooc_x_new"]])
            is_last = np.zeros(len(ctx), dtype=bool)
            is_last[np.array(cends)[np.array(ctx_lens) > 0] - 1] = True
            last = np.repeat(is_last, width)
            XT[COL["cooc_last"]] = np.bincount(pos[last], weights=wh[last], minlength=n)
            nbr = (pos, hit, nbr_w, ctx)
        has_ctx = np.array([m > 0 for m in ctx_lens], dtype=np.float64)
        last_aisle = np.array(
            [art.aisle[sh.items[-1]] if sh.items else 0 for sh in shoppers], dtype=np.int64
        )
        XT[COL["aisle_next"]] = art.aisle_next[np.repeat(last_aisle, counts), ca]
        XT[COL["aisle_next"]] *= np.repeat(has_ctx, counts)
        basket_aisles = art.aisle[np.concatenate([sh.basket for sh in shoppers])]
        bseg = _keyed(blens, basket_aisles.astype(np.int64), n_aisles)
        ba = np.bincount(bseg, minlength=n_seg * n_aisles)
        in_aisle = ba[seg * n_aisles + ca]
        np.divide(in_aisle, np.repeat(np.maximum(blens, 1), counts), out=XT[COL["basket_aisle"]])
        np.multiply(aff, in_aisle == 0, out=XT[COL["aisle_missing"]])
    else:
        XT[COL["aisle_missing"]] = aff

    # --- session: search intent (per shopper: each has its own queries)
    queries = [()] * n_seg
    decayed_of: list[tuple[np.ndarray, ...]] = [()] * n_seg
    if any(sh.searches for sh in shoppers):
        for j, sh in enumerate(shoppers):
            a, b = starts[j], ends[j]
            queries[j] = tuple(q for q, _, _, _ in sh.searches)
            if not sh.searches or a == b:
                continue
            own = cands[a:b]
            acc = np.zeros((b - a, 2))  # best decayed match, best decayed head-noun match
            pending = None
            decayed_all = []
            for _, qi, weight, is_pending in sh.searches:
                found = qi.lookup(own)
                decayed = found * weight
                np.maximum(acc, decayed, out=acc)
                decayed_all.append(decayed[:, 0])
                if is_pending:
                    match = found[:, 0]
                    pending = match if pending is None else np.maximum(pending, match)
            decayed_of[j] = tuple(decayed_all)
            XT[COL["search_match"], a:b] = acc[:, 0]
            if pending is not None:
                XT[COL["search_pending"], a:b] = pending
            XT[COL["search_head"], a:b] = acc[:, 1]
        best = XT[COL["search_match"]]
        np.multiply(best, XT[COL["u_log_count"]], out=XT[COL["search_x_hist"]])
        np.multiply(best, pop, out=XT[COL["search_x_pop"]])

    # --- item / global
    XT[COL["g_pop"]] = pop
    XT[COL["g_reorder"]] = art.reorder[cands]
    np.multiply(pop, new, out=XT[COL["g_pop_x_new"]])

    slot = [0] * n_states  # segment of each state
    for j, sh in enumerate(shoppers):
        slot[sh.index] = j
    return Stacked(
        cands,
        XT,
        count,
        interval_days,
        [(starts[j], ends[j]) for j in slot],
        [queries[j] for j in slot],
        [decayed_of[j] for j in slot],
        nbr,
        [nbr_bounds[j] for j in slot],
    )


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


def _recent_rows(v: UserView, last_add: int, in_basket: np.ndarray, out: np.ndarray) -> None:
    """The basket-dependent recent-order features, per history row, into ``out`` (zeros)."""
    n_h = len(v.hp)
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
