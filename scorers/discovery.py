"""Discovery candidates: items a shopper never bought that go with what is in the cart now.

Built in batch (:func:`discovery_neighbours`, called by ``build_artifacts``) from every
shopper's orders: for each product ``a`` its ``N_DISCOVERY`` strongest partners ``b`` by a
*mild lift*, ``P(b | a) / (users of b + 3) ** LIFT_BETA`` with ``P(b | a)`` counted once per
shopper and shrunk (users of a and b together / (users of a + 3)). The plain conditional
probability is dominated by staples (bananas go with everything); a full lift
(``P(b | a) / P(b)``) by products two shoppers bought once. On the dev file's validation
period (each user's second-to-last order) a mild ``LIFT_BETA`` of 0.1 found the most
never-bought cart adds: see ``scorers/README.md`` ("Discovery").

At scoring time (:func:`discover_many`) each shopper's last ``N_BASKET_CONTEXT`` basket items
vote for their partners, recent adds weighted higher (1, 1/2, 1/3, ...), exactly as the
blended model's ``cooc`` feature weighs them; the vote is multiplied by where the cart is
heading, ``aisle_next[aisle of the last add, aisle of the partner] + AISLE_FLOOR`` (the
aisle transition matrix the blended model already has); products the shopper has in the
history or the basket are dropped. One stacked numpy pass for all the shoppers of a batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from features.state import UserState
from scorers.csr import top_neighbours
from scorers.userview import user_view

if TYPE_CHECKING:  # pragma: no cover
    from scorers.artifacts import Artifacts

__all__ = [
    "LIFT_BETA",
    "N_DISCOVERY",
    "Discovered",
    "best_possible",
    "discover_many",
    "discovery_neighbours",
    "discovery_table",
    "tighter_bound",
]

N_DISCOVERY = 120
"""Partners kept per product: longer than the blended model's 30 neighbours, because the
shopper's own history (often the staples at the head of the list) is removed from them."""
LIFT_BETA = 0.1
AISLE_FLOOR = 0.02
"""Added to the aisle transition probability that multiplies the basket vote, so a strong
partner from an unlikely next aisle still counts."""
N_BASKET_CONTEXT = 8
_RECENCY = [1.0 / (m - np.arange(m)) for m in range(N_BASKET_CONTEXT + 1)]


def discovery_neighbours(
    pairs: np.ndarray, pair_users: np.ndarray, size: int, buyers: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR ``(ptr, ids, w)`` of each product's ``N_DISCOVERY`` partners by mild lift.

    ``pairs`` are keys ``a * size + b`` and ``pair_users`` the shoppers who bought both in one
    order; ``buyers`` the shoppers of each product. A staple bought with ``a`` by as many
    shoppers as a niche partner ranks below it:

    >>> size = 4
    >>> buyers = np.array([0, 10, 300, 12.0])
    >>> pairs = np.array([1 * size + 2, 1 * size + 3])  # product 1 with a staple and a niche
    >>> ptr, ids, w = discovery_neighbours(pairs, np.array([5, 5]), size, buyers)
    >>> ids[ptr[1] : ptr[2]].tolist()
    [3, 2]
    """
    src = pairs // size
    dst = pairs % size
    share = (buyers[dst] + 3.0) / (buyers.max(initial=0.0) + 3.0)  # ~P(b), scale-free
    w = pair_users / (buyers[src] + 3.0) / share**LIFT_BETA
    ptr, ids, ws = top_neighbours(src, dst, w, size, N_DISCOVERY)
    return ptr, ids, ws.astype(np.float32)


def discovery_table(art: Artifacts) -> tuple[np.ndarray, np.ndarray]:
    """The discovery lists as dense ``(n_products, width)`` arrays (ids, weights), padded with
    product 0 and weight 0; built once per artifacts (shared by ``with_model`` copies)."""
    table = art._derived.get("disc_table")
    if table is None:
        lens = np.diff(art.disc_ptr)
        width = max(int(lens.max(initial=0)), 1)
        ids = np.zeros((len(lens), width), dtype=np.int64)
        w = np.zeros((len(lens), width), dtype=np.float64)
        rows = np.repeat(np.arange(len(lens)), lens)
        cols = np.arange(len(art.disc_ids)) - np.repeat(art.disc_ptr[:-1], lens)
        ids[rows, cols] = art.disc_ids
        w[rows, cols] = art.disc_w
        table = art._derived["disc_table"] = (ids, w)
    return table


@dataclass(frozen=True, slots=True)
class Discovered:
    """One shopper's discovery candidates, best first (ties by product id)."""

    pids: np.ndarray
    scores: np.ndarray
    sources: np.ndarray
    """The basket item that voted most for each (the one a reason names)."""


_EMPTY = Discovered(np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64))


def _context(state: UserState, n_products: int) -> np.ndarray:
    basket = np.array(state.basket[-N_BASKET_CONTEXT:], dtype=np.int64)
    if len(basket) and (basket.min() <= 0 or basket.max() >= n_products):
        basket = basket[(basket > 0) & (basket < n_products)]
    return basket


def _owned(state: UserState, art: Artifacts) -> np.ndarray:
    """The shopper's history (the memoised view's sorted ids when it has one) and basket."""
    basket = np.array(state.basket, dtype=np.int64)
    if not len(state.history):
        return basket
    hp = user_view(state, art.aisle, art.n_aisles, art.views).hp
    return np.concatenate([hp, basket])


def _stacked_contexts(
    states: Sequence[UserState], art: Artifacts
) -> tuple[list[int], list[int], np.ndarray, np.ndarray, np.ndarray, list[int]] | None:
    """The basket contexts of the shoppers who have one, stacked: (their indexes, context
    lengths, the context products, their recency weights, each row's owner, each shopper's
    last add); None when nobody has a context."""
    ctxs = [_context(s, art.n_products) for s in states]
    with_ctx = [i for i, c in enumerate(ctxs) if len(c)]
    if not with_ctx:
        return None
    lens = [len(ctxs[i]) for i in with_ctx]
    ctx = np.concatenate([ctxs[i] for i in with_ctx])
    rec = np.concatenate([_RECENCY[m] for m in lens])
    owner = np.repeat(np.arange(len(with_ctx)), lens)
    return with_ctx, lens, ctx, rec, owner, [int(ctxs[i][-1]) for i in with_ctx]


def best_possible(states: Sequence[UserState], art: Artifacts) -> np.ndarray:
    """An upper bound of each shopper's best discovery score (0 with an empty basket), at a
    fraction of :func:`discover_many`'s cost, so that a caller keeping only scores above a
    threshold skips the shoppers below it (most of them).

    A product's score is a sum over basket items of vote x aisle factor, and each term is at
    most that basket item's best vote x the best factor from the last add's aisle; where that
    coarse bound is not enough, the best vote x factor of each basket item's own partners
    (up to rounding: compare with a relative margin).
    """
    w_t = discovery_table(art)[1]
    out = np.zeros(len(states))
    stacked = _stacked_contexts(states, art)
    if stacked is None:
        return out
    with_ctx, lens, ctx, rec, owner, last = stacked
    last_aisle = art.aisle[last]
    best_factor = _best_factor(art)[last_aisle]
    out[with_ctx] = np.bincount(owner, weights=w_t[ctx, 0] * rec, minlength=len(lens))
    out[with_ctx] *= best_factor
    return out


def tighter_bound(states: Sequence[UserState], art: Artifacts) -> np.ndarray:
    """:func:`best_possible` refined: each basket item's best partner by its own vote x the
    aisle factor of that partner (a gather of the basket's partner lists)."""
    w_t = discovery_table(art)[1]
    out = np.zeros(len(states))
    stacked = _stacked_contexts(states, art)
    if stacked is None:
        return out
    with_ctx, lens, ctx, rec, owner, last = stacked
    last_aisle = np.repeat(art.aisle[last], lens)
    factor = art.aisle_next[last_aisle[:, None], _partner_aisles(art)[ctx]].astype(np.float64)
    factor += AISLE_FLOOR
    factor *= w_t[ctx]
    best = factor.max(axis=1) * rec
    out[with_ctx] = np.bincount(owner, weights=best, minlength=len(lens))
    return out


def _best_factor(art: Artifacts) -> np.ndarray:
    """Per aisle of the last add: the largest aisle factor any partner can get."""
    best = art._derived.get("disc_best_factor")
    if best is None:
        best = art._derived["disc_best_factor"] = (
            art.aisle_next.astype(np.float64).max(axis=1) + AISLE_FLOOR
        )
    return best


def _partner_aisles(art: Artifacts) -> np.ndarray:
    """The aisle of every entry of the discovery table (same shape)."""
    table = art._derived.get("disc_aisles")
    if table is None:
        table = art._derived["disc_aisles"] = art.aisle[discovery_table(art)[0]]
    return table


def discover_many(states: Sequence[UserState], art: Artifacts, n: int) -> list[Discovered]:
    """The ``n`` strongest never-bought partners of each shopper's current basket.

    A shopper with an empty basket (or a catalogue without discovery lists) gets none.
    """
    n_p = art.n_products
    ids_t, w_t = discovery_table(art)
    width = ids_t.shape[1]
    ctxs = [_context(s, n_p) for s in states]
    lens = [len(c) for c in ctxs]
    if not sum(lens) or n <= 0:
        return [_EMPTY] * len(states)
    with_ctx = [i for i, m in enumerate(lens) if m]
    ctx = np.concatenate([ctxs[i] for i in with_ctx])
    offsets = np.repeat(np.array(with_ctx, dtype=np.int64) * n_p, [lens[i] for i in with_ctx])
    rec = np.concatenate([_RECENCY[lens[i]] for i in with_ctx])
    keys = (ids_t[ctx] + offsets[:, None]).ravel()
    votes = (w_t[ctx] * rec[:, None]).ravel()
    uniq, inv = np.unique(keys, return_inverse=True)
    score = np.bincount(inv, weights=votes, minlength=len(uniq))
    seg = uniq // n_p
    pid = uniq - seg * n_p
    # drop padding (product 0) and what each shopper has (history and basket)
    own = np.concatenate([_owned(states[i], art) + i * n_p for i in with_ctx])
    own.sort()
    drop = pid == 0
    if len(own):
        at = np.minimum(own.searchsorted(uniq), len(own) - 1)
        drop |= own[at] == uniq
    # where the cart goes next: P(next add's aisle | aisle of the last add), plus a floor
    last = np.zeros(len(states), dtype=np.int64)
    last[with_ctx] = [ctxs[i][-1] for i in with_ctx]
    score *= art.aisle_next[art.aisle[last[seg]], art.aisle[pid]].astype(np.float64) + AISLE_FLOOR
    score[drop] = -1.0
    # uniq ascends, so each shopper's candidates are one slice, in product id order
    bounds = np.searchsorted(seg, np.arange(len(states) + 1)).tolist()
    picks = []
    for i in range(len(states)):
        a, b = bounds[i], bounds[i + 1]
        sc = score[a:b]
        sel = np.argsort(-sc, kind="stable")[:n]  # stable: ties by product id
        picks.append(a + sel[sc[sel] > 0])
    chosen = np.concatenate(picks)
    source = _sources(chosen, inv, votes, ctx, width)
    out = []
    at = 0
    for sel in picks:
        if not len(sel):
            out.append(_EMPTY)
            continue
        out.append(Discovered(pid[sel], score[sel], source[at : at + len(sel)]))
        at += len(sel)
    return out


def _sources(
    chosen: np.ndarray, inv: np.ndarray, votes: np.ndarray, ctx: np.ndarray, width: int
) -> np.ndarray:
    """For each chosen candidate, the basket item whose vote for it was largest (ties: the
    later basket item); resolved for the chosen few only."""
    if not len(chosen):
        return np.zeros(0, dtype=np.int64)
    rank = np.full(inv.max() + 1, -1, dtype=np.int64)
    rank[chosen] = np.arange(len(chosen))
    entry = np.flatnonzero(rank[inv] >= 0)
    # sort the chosen candidates' entries by (candidate, -vote, -entry): first is the source
    by = np.lexsort((-entry, -votes[entry], rank[inv[entry]]))
    entry = entry[by]
    cand = rank[inv[entry]]
    first = np.ones(len(entry), dtype=bool)
    first[1:] = cand[1:] != cand[:-1]
    out = np.zeros(len(chosen), dtype=np.int64)
    out[cand[first]] = ctx[entry[first] // width]
    return out
