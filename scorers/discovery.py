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
blended model's ``cooc`` feature weighs them; products the shopper has in the history or the
basket are dropped. One stacked numpy pass for all the shoppers of a batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from features.state import UserState
from scorers.csr import top_neighbours

if TYPE_CHECKING:  # pragma: no cover
    from scorers.artifacts import Artifacts

__all__ = [
    "LIFT_BETA",
    "N_DISCOVERY",
    "Discovered",
    "discover_many",
    "discovery_neighbours",
    "discovery_table",
]

N_DISCOVERY = 60
"""Partners kept per product: longer than the blended model's 30 neighbours, because the
shopper's own history (often the staples at the head of the list) is removed from them."""
LIFT_BETA = 0.1
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
    w = pair_users / (buyers[src] + 3.0) / (buyers[dst] + 3.0) ** LIFT_BETA
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
    return basket[(basket > 0) & (basket < n_products)]


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
    ctx = np.concatenate(ctxs)
    seg_of_ctx = np.repeat(np.arange(len(states)), lens)
    rec = np.concatenate([_RECENCY[m] for m in lens if m])
    keys = (ids_t[ctx] + (seg_of_ctx * n_p)[:, None]).ravel()
    votes = (w_t[ctx] * rec[:, None]).ravel()
    at_ctx = np.repeat(np.arange(len(ctx)), width)  # later basket items have higher indexes
    ok = (ids_t[ctx].ravel() > 0) & (votes > 0)
    # drop what the shopper has: history and basket, as stacked keys
    own = [
        np.concatenate([np.asarray(s.history.pid, dtype=np.int64), np.asarray(s.basket, np.int64)])
        + i * n_p
        for i, s in enumerate(states)
        if lens[i]
    ]
    own_keys = np.sort(np.concatenate(own))
    if len(own_keys):
        at = np.minimum(own_keys.searchsorted(keys), len(own_keys) - 1)
        ok &= own_keys[at] != keys
    keys, votes, at_ctx = keys[ok], votes[ok], at_ctx[ok]
    if not len(keys):
        return [_EMPTY] * len(states)
    uniq, inv = np.unique(keys, return_inverse=True)
    score = np.bincount(inv, weights=votes, minlength=len(uniq))
    # the strongest voter of each key: sort by (key, -vote, later basket item first)
    strongest = np.lexsort((-at_ctx, -votes, inv))
    first = np.ones(len(strongest), dtype=bool)
    first[1:] = inv[strongest[1:]] != inv[strongest[:-1]]
    source = np.zeros(len(uniq), dtype=np.int64)
    source[inv[strongest[first]]] = ctx[at_ctx[strongest[first]]]
    seg = uniq // n_p
    order = np.lexsort((uniq, -score, seg))  # per shopper: best first, ties by product id
    seg_sorted = seg[order]
    bounds = np.searchsorted(seg_sorted, np.arange(len(states) + 1))
    out = []
    for i in range(len(states)):
        sel = order[bounds[i] : min(bounds[i + 1], bounds[i] + n)]
        if not len(sel):
            out.append(_EMPTY)
            continue
        out.append(Discovered(uniq[sel] - i * n_p, score[sel], source[sel]))
    return out
