"""The per-user arrays that only change at checkout, computed once and memoised.

Everything here depends on the long-term history, the recent orders and the order times, all
of which :func:`features.apply` changes only when a checkout commits a basket. Between two
checkouts (a whole shopping session) the scorer reuses one :class:`UserView`; the memo lives on
the :class:`~scorers.artifacts.Artifacts` object (derived data, not state: losing it costs one
recomputation), is keyed by value (user, orders, last checkout, history size) and checked by
equality, so it can never serve the view of another state: outputs are exactly those of a fresh
computation.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain

import numpy as np

from features.state import UserState
from scorers.lru import LRUMemo

__all__ = ["STATIC_FEATURES", "UserView", "new_view_memo", "user_view"]

DAY_MS = 86_400_000
RECENT_DECAY = 0.7
MEMO_SIZE = 4096
MEMO_BYTES = 256 << 20
"""Bounds of the view memo: 4,096 sessions or 256 MB, whichever comes first (a view is ~70 KB
for a typical Instacart shopper, ~360 KB at the state's caps)."""
MAX_HISTORY_CANDIDATES = 200

STATIC_FEATURES = (
    "u_log_count",
    "u_share",
    "u_in_last_order",
    "u_orders_since",
    "u_overdue_orders",
    "u_overdue_orders_abs",
    "u_streak",
    "r_freq_decay",
    "r_freq_decay_09",
    "r_last3",
    "u_rank_freq",
)
"""Features of a (user, product) pair that do not change until the next checkout."""


@dataclass(frozen=True, slots=True)
class UserView:
    """History rows (sorted by product id) and their checkout-stable arrays."""

    key: tuple[int, int, int, int]
    history: object
    recent_orders: tuple[tuple[int, ...], ...]
    hp: np.ndarray
    candidates: np.ndarray
    """The history products worth scoring (all, or the MAX_HISTORY_CANDIDATES with the highest
    recency-weighted frequency), ascending."""
    rows: np.ndarray
    """(len(STATIC_FEATURES) + 5, H): the static feature rows, then count, multi (count >= 2),
    last purchase time, usual days between purchases and log(1 + usual cart position)."""
    a_hist: np.ndarray
    total: float
    # recent orders, flattened in add order
    flat_row: np.ndarray
    """History row of every recent-order entry (-1 when no longer in the history)."""
    flat: np.ndarray
    oidx: np.ndarray
    gamma: np.ndarray
    known_row: np.ndarray
    """History rows of the recent-order entries still in the history..."""
    known_order: np.ndarray
    """...and the recent order each comes from."""

    def followers(self, pid: int) -> tuple[np.ndarray, np.ndarray, int] | None:
        """The history rows of the 1st and 2nd products added after ``pid`` in recent carts
        (in cart order, the 1st before the 2nd), their weights 1 and 0.5, and the times
        ``pid`` appears in recent carts; None when no such row exists.

        Computed on demand for the one product asked about (the last cart add), not for every
        product at every checkout.
        """
        at = (self.flat == pid).nonzero()[0]
        if not len(at):
            return None
        n = len(self.flat)
        nxt = np.empty((len(at), 2), dtype=np.int64)
        nxt[:, 0] = at + 1
        nxt[:, 1] = at + 2
        src = np.repeat(at, 2)
        nxt = nxt.ravel()
        ok = nxt < n
        src, nxt = src[ok], nxt[ok]
        ok = (self.oidx[nxt] == self.oidx[src]) & (self.flat_row[nxt] >= 0)
        if not ok.any():
            return None
        weights = np.where(nxt - src == 1, 1.0, 0.5)[ok]
        return self.flat_row[nxt[ok]], weights, len(at)

    def nbytes(self) -> int:
        """Estimated bytes held: the arrays, plus the Python objects of the history columns
        and the recent orders."""
        arrays = sum(
            a.nbytes
            for a in (
                self.hp,
                self.candidates,
                self.rows,
                self.a_hist,
                self.flat_row,
                self.flat,
                self.oidx,
                self.gamma,
                self.known_row,
                self.known_order,
            )
        )
        return arrays + 200 * len(self.hp) + 40 * len(self.flat)


def new_view_memo() -> LRUMemo[UserView]:
    """An empty memo of user views, bounded by ``MEMO_SIZE`` views and ``MEMO_BYTES`` bytes."""
    return LRUMemo(MEMO_SIZE, MEMO_BYTES, UserView.nbytes)


def _key(state: UserState) -> tuple[int, int, int, int]:
    return (
        state.user_id,
        state.n_orders,
        state.order_ts[-1] if state.order_ts else 0,
        len(state.history),
    )


def user_view(
    state: UserState, aisle: np.ndarray, n_aisles: int, memo: LRUMemo[UserView] | None = None
) -> UserView:
    """The view of ``state``, memoised in ``memo`` (owned by the artifacts it was computed
    with; computed on a miss, equality-checked on a hit, least recently used dropped)."""
    if memo is None:
        return _compute(state, aisle, n_aisles)
    return memo.get(
        _key(state),
        lambda: _compute(state, aisle, n_aisles),
        lambda view: (
            (view.history is state.history or view.history == state.history)
            and (
                view.recent_orders is state.recent_orders
                or view.recent_orders == state.recent_orders
            )
            and len(view.a_hist) == n_aisles
        ),
    )


def _compute(state: UserState, aisle: np.ndarray, n_aisles: int) -> UserView:
    h = state.history
    n_orders = state.n_orders
    n_products = len(aisle)
    hp = np.array(h.pid, dtype=np.int64)
    cols = np.array(
        (h.count, h.first_order, h.last_order, h.first_ts, h.last_ts, h.pos_sum),
        dtype=np.float64,
    ).reshape(6, len(hp))
    if len(hp) and (hp[0] <= 0 or hp[-1] >= n_products):  # pids ascend: ends suffice
        # ids the catalog arrays do not know (stored states outliving a rebuild with a lower
        # maximum id): left out of the view, so they are never scored and add no aisle
        keep = (hp > 0) & (hp < n_products)
        hp, cols = hp[keep], cols[:, keep]
    count, first_o, last_o, first_t, last_t, pos_sum = cols
    n_h = len(hp)
    static = np.zeros((len(STATIC_FEATURES), n_h))
    S = {name: i for i, name in enumerate(STATIC_FEATURES)}
    c1 = np.maximum(count, 1.0)
    since_o = n_orders - last_o + 1.0
    multi = count >= 2
    denom = np.maximum(count - 1.0, 1.0)
    int_o = np.maximum((last_o - first_o) / denom, 1.0)
    over_o = np.clip(np.log(np.maximum(since_o, 1.0) / int_o), -3, 3) * multi
    static[S["u_log_count"]] = np.log1p(count)
    static[S["u_share"]] = count / max(n_orders, 1)
    static[S["u_in_last_order"]] = last_o == n_orders
    static[S["u_orders_since"]] = np.log1p(np.maximum(since_o, 0.0))
    static[S["u_overdue_orders"]] = over_o
    static[S["u_overdue_orders_abs"]] = np.abs(over_o)
    static[S["u_streak"]] = count / np.maximum(n_orders - first_o + 1.0, 1.0)

    orders = state.recent_orders
    r = len(orders)
    lens = [len(o) for o in orders]
    flat = np.fromiter(chain.from_iterable(orders), dtype=np.int64, count=sum(lens))
    if len(flat) and (flat.min() <= 0 or flat.max() >= n_products):
        # unknown ids become product 0: in no basket mask, no history row, never followed
        flat[(flat <= 0) | (flat >= n_products)] = 0
    oidx = np.repeat(np.arange(r), lens)
    age = r - 1 - np.arange(r, dtype=np.float64)
    gamma = RECENT_DECAY**age
    flat_row = np.full(len(flat), -1, dtype=np.int64)
    if n_h and len(flat):
        rows = np.searchsorted(hp, flat)
        rows[rows >= n_h] = n_h - 1
        flat_row = np.where(hp[rows] == flat, rows, -1)
        ok = flat_row >= 0
        fr, fo = flat_row[ok], oidx[ok]
        for name, decay in (("r_freq_decay", RECENT_DECAY), ("r_freq_decay_09", 0.9)):
            g = decay**age
            static[S[name]] = np.bincount(fr, weights=g[fo], minlength=n_h) / g.sum()
        last3 = fo >= r - 3
        static[S["r_last3"]] = np.bincount(fr[last3], minlength=n_h) / min(3, r)
    if n_h:
        prior = static[S["r_freq_decay_09"]] + static[S["u_share"]]
        ranks = np.empty(n_h)
        ranks[np.argsort(-prior, kind="stable")] = np.arange(n_h)
        static[S["u_rank_freq"]] = np.log1p(ranks)
    total = float(count.sum())
    known = flat_row >= 0
    candidates = hp
    if n_h > MAX_HISTORY_CANDIDATES:
        prior = static[S["r_freq_decay_09"]] + static[S["u_share"]]
        top = np.argsort(-prior, kind="stable")[:MAX_HISTORY_CANDIDATES]
        candidates = hp[np.sort(top)]
    return UserView(
        key=_key(state),
        history=h,
        recent_orders=orders,
        hp=hp,
        candidates=candidates,
        rows=np.vstack(
            (
                static,
                count,
                multi,
                last_t,
                (last_t - first_t) / denom / DAY_MS * multi,
                np.log1p(pos_sum / c1),
            )
        ),
        a_hist=np.bincount(aisle[hp], weights=count, minlength=n_aisles),
        total=total,
        flat_row=flat_row,
        flat=flat,
        oidx=oidx,
        gamma=gamma,
        known_row=flat_row[known],
        known_order=oidx[known],
    )
