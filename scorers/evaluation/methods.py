"""The methods compared by the prequential evaluation, all answering "the current top-K".

Every method gets the same inputs at the same moment (the user's state just before the cart
add, and the artifacts built from training orders only) and returns a ranked list of product
ids. Static lists (``popularity``, ``personal_top``, ``cached``) are held longer than K and the
reader drops items already in the basket, so every method is judged on K items the user does
not have in the cart yet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from features.state import UserState
from scorers.artifacts import Artifacts
from scorers.rank import recommend

__all__ = [
    "METHODS",
    "CachedAnswer",
    "cooc_raw",
    "drop_basket",
    "personal_top",
    "popularity",
    "streaming",
]


def drop_basket(ranked: list[int], basket: tuple[int, ...], k: int) -> list[int]:
    """The first ``k`` of ``ranked`` that are not in the basket.

    >>> drop_basket([5, 3, 9, 1], (3,), 2)
    [5, 9]
    """
    if not basket:
        return ranked[:k]
    inside = set(basket)
    return [p for p in ranked if p not in inside][:k]


def popularity(state: UserState, art: Artifacts, k: int) -> list[int]:
    """Global top items (by shoppers who bought them)."""
    return drop_basket([int(p) for p in art.popular[: k + len(state.basket)]], state.basket, k)


def personal_top(state: UserState, art: Artifacts, k: int) -> list[int]:
    """The user's most frequently bought items (ties: most recent), filled with popular ones."""
    h = state.history
    if len(h):
        order = np.lexsort((np.array(h.pid), -np.array(h.last_order), -np.array(h.count)))
        mine = [h.pid[i] for i in order[: k + len(state.basket)]]
    else:
        mine = []
    seen = set(mine)
    fill = [int(p) for p in art.popular[: k + len(state.basket)] if int(p) not in seen]
    return drop_basket(mine + fill, state.basket, k)


def cooc_raw(state: UserState, art: Artifacts, k: int) -> list[int]:
    """Raw co-occurrence with the basket: each basket item's neighbours weighted by how many
    shoppers bought the pair (not normalised, so staples lead), summed over the basket; no
    model, history ignored. Popular items when the basket is empty (or to fill up).

    The neighbour weights are ``pair users / (users of a + 3)``, so the pair count is the
    weight times ``users of a + 3``, users of a read back from ``art.pop``.
    """
    ids, w = art.neighbour_table()
    basket = [p for p in state.basket if 0 < p < art.n_products]
    ranked: list[int] = []
    if basket:
        b = np.array(basket, dtype=np.int64)
        users = np.rint(np.expm1(art.pop[b].astype(np.float64) * np.log1p(max(art.n_users, 1))))
        counts = (w[b] * (users + 3.0)[:, None]).ravel()
        total = np.bincount(ids[b].ravel(), weights=counts, minlength=art.n_products)
        total[0] = 0.0
        hit = np.flatnonzero(total > 0)
        ranked = hit[np.lexsort((hit, -total[hit]))].tolist()
    seen = set(ranked)
    fill = [int(p) for p in art.popular[: k + len(basket)] if int(p) not in seen]
    return drop_basket(ranked + fill, state.basket, k)


def streaming(state: UserState, art: Artifacts, k: int) -> list[int]:
    """The default answer (the blended surface), exactly as the worker calls it."""
    from scorers.surface_models import MODELS

    return [i.product_id for i in MODELS["blended"]([state], art, k)[0].items]


@dataclass
class CachedAnswer:
    """The batch (context-free) answer as seeded into Redis before each order starts.

    It is computed once per order from the state at the order's start (empty basket) and held
    unchanged while the cart fills; the reader drops basket items. ``depth`` items are held;
    when the basket has eaten so many of them that fewer than K remain, the list is extended
    from the same start-of-order state, so the method is always judged on K items like the
    others.

    >>> from features import empty_state
    >>> from scorers import build_artifacts
    >>> from loaders.catalog import Catalog, Product
    >>> from loaders.instacart import Order
    >>> cat = Catalog({p: Product(p, f"p{p}", 1, 1) for p in range(1, 30)}, {1: "a"}, {1: "d"})
    >>> art = build_artifacts([Order(1, 1, 1, 0, 9, None, tuple(range(1, 30)))], cat)
    >>> cached = CachedAnswer(depth=5)
    >>> start = empty_state(2)
    >>> cached.start_order(start, art)
    >>> held = cached(start, art, 3)
    >>> len(cached(replace(start, basket=tuple(held) + (99,)), art, 3))
    3
    """

    depth: int = 60
    _held: dict[int, tuple[UserState, list[int]]] = field(default_factory=dict)

    def start_order(self, state: UserState, art: Artifacts) -> None:
        """Compute and hold the answer for the order the user is about to place.

        Context-free: the basket and searches are left out, as the batch job knows neither.
        """
        context_free = replace(state, basket=(), searches=())
        self._held[state.user_id] = (context_free, self._ranked(context_free, art, self.depth))

    @staticmethod
    def _ranked(context_free: UserState, art: Artifacts, depth: int) -> list[int]:
        return [i.product_id for i in recommend(context_free, art, depth).items]

    def __call__(self, state: UserState, art: Artifacts, k: int) -> list[int]:
        """The held answer minus basket items (computed now if nothing is held yet)."""
        if state.user_id not in self._held:
            self.start_order(state, art)
        start, ranked = self._held[state.user_id]
        answer = drop_basket(ranked, state.basket, k)
        if len(answer) < k and len(ranked) < k + len(state.basket):
            ranked = self._ranked(start, art, k + len(state.basket))
            self._held[state.user_id] = (start, ranked)
            answer = drop_basket(ranked, state.basket, k)
        return answer


Method = Callable[[UserState, Artifacts, int], list[int]]
METHODS: tuple[str, ...] = ("popularity", "personal_top", "cached", "streaming")
