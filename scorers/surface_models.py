"""The answer of every surface: one pure function per surface, looked up in :data:`MODELS`.

Each has the signature of :func:`scorers.rank.recommend_many`, ``(states, art, k, now_ms)``,
and its contract: one answer per state, pure and deterministic, basket items never included,
ties broken by product id, ``source="stream"``, ``event_ts=state.last_ts``, a short reason per
item. The worker and ``stream-app eval`` call the same functions (offline/live parity).

* ``blended``: the default answer (``reco:{user_id}``): the linear re-ranker over history,
  basket, search and popularity candidates (:func:`scorers.rank.recommend_many`).
* ``buy_again``: repurchase-timed items from the shopper's history only, scored by the same
  model *without* the session (basket and searches left out): the cached quadrant, meant to be
  computed at build and at checkout, so ``now_ms`` should be the checkout time.
* ``basket``: "complete your basket": the blended answer's best items with the last
  :data:`BASKET_NEW_SLOTS` slots given to discovery candidates (never bought by the shopper,
  strongest partners of the current cart by mild lift, ``scorers.discovery``); with an empty
  cart, popular products new to the shopper.
* ``search``: the blended scores plus :data:`SEARCH_BOOST` x the live (fading) search match,
  so what matches a search comes first while the search counts; without a live search it is
  the blended answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from features.state import UserState
from schemas.recommendation import RecoItem, Recommendation
from scorers.artifacts import Artifacts
from scorers.discovery import Discovered, discover_many
from scorers.featurize import COL, Candidates
from scorers.rank import _short, _with_reasons, rank_many, recommend_many

__all__ = [
    "BASKET_NEW_SLOTS",
    "MODELS",
    "SEARCH_BOOST",
    "SurfaceModel",
    "basket",
    "blended",
    "buy_again",
    "search",
]

SurfaceModel = Callable[
    [Sequence[UserState], Artifacts, int, Sequence[int | None] | None], list[Recommendation]
]

BASKET_NEW_SLOTS = 5
"""Slots of the basket surface's K given to products new to the shopper."""
SEARCH_BOOST = 5.0
"""Added to the blended score per unit of live search match (1 = every query word, fresh):
larger than the spread of the blended scores, so matches lead while the search counts."""
_SEARCH = COL["search_match"]


def _answer(state: UserState, art: Artifacts, items: list[RecoItem], surface: str, n: int):
    return Recommendation(
        state.user_id,
        tuple(items),
        art.model.version,
        "stream",
        0,
        state.last_ts,
        {"n_candidates": n, "surface": surface},
    )


def blended(
    states: Sequence[UserState],
    art: Artifacts,
    k: int = 10,
    now_ms: Sequence[int | None] | None = None,
) -> list[Recommendation]:
    """The default answer: :func:`scorers.rank.recommend_many`, unchanged."""
    return recommend_many(states, art, k, now_ms)


def buy_again(
    states: Sequence[UserState],
    art: Artifacts,
    k: int = 10,
    now_ms: Sequence[int | None] | None = None,
) -> list[Recommendation]:
    """Products of each shopper's history, best due first ("due again: usually every 9 days").

    Scored by the blended model on the state without its session (empty basket, no
    searches), so the answer changes only at checkout; basket items are still left out. A
    shopper without history gets an empty answer.
    """
    free = [replace(s, basket=(), searches=()) for s in states]
    out = []
    for state, (c, scores, _top) in zip(states, rank_many(free, art, k, now_ms), strict=True):
        keep = c.count > 0
        if state.basket:
            keep &= ~np.isin(c.pids, state.basket)
        idx = np.flatnonzero(keep)
        top = idx[(-scores[idx]).argsort(kind="stable")[:k]]
        items = [
            RecoItem(pid, round(s, 4), _due_reason(int(n), d))
            for pid, s, n, d in zip(
                c.pids[top].tolist(),
                scores[top].tolist(),
                c.count[top].tolist(),
                c.interval_days[top].tolist(),
                strict=True,
            )
        ]
        out.append(_answer(state, art, items, "buy_again", len(idx)))
    return out


def _due_reason(count: int, days: float) -> str:
    """
    >>> _due_reason(4, 8.6), _due_reason(1, 0.0), _due_reason(3, 0.2)
    ('due again: usually every 9 days', 'bought once before', 'bought 3 times')
    """
    if count <= 1:
        return "bought once before"
    if days >= 1:
        return f"due again: usually every {round(days)} days"
    return f"bought {count} times"


def basket(
    states: Sequence[UserState],
    art: Artifacts,
    k: int = 10,
    now_ms: Sequence[int | None] | None = None,
) -> list[Recommendation]:
    """Complete the basket: the blended top items, then up to :data:`BASKET_NEW_SLOTS`
    products new to the shopper that go with the cart ("new to you: goes with Bananas")."""
    ranked = rank_many(states, art, k, now_ms)
    found = discover_many(states, art, k)
    out = []
    for state, (c, scores, top), disc in zip(states, ranked, found, strict=True):
        new = _new_items(state, art, disc, min(BASKET_NEW_SLOTS, k))
        taken = {i.product_id for i in new}
        mine = [i for i in _with_reasons(state, art, c, scores, top) if i.product_id not in taken]
        items = mine[: k - len(new)] + new
        out.append(_answer(state, art, items, "basket", len(c.pids) + len(disc.pids)))
    return out


def _new_items(state: UserState, art: Artifacts, disc: Discovered, n: int) -> list[RecoItem]:
    """The ``n`` best discovery items, or popular products new to the shopper (empty cart)."""
    if len(disc.pids):
        return [
            RecoItem(pid, round(s, 4), f"new to you: goes with {_short(art.name_of(src))}")
            for pid, s, src in zip(
                disc.pids[:n].tolist(),
                disc.scores[:n].tolist(),
                disc.sources[:n].tolist(),
                strict=True,
            )
        ]
    have = set(state.history.pid) | set(state.basket)
    items = []
    for pid in art.popular.tolist():
        if len(items) >= n:
            break
        if pid not in have:
            items.append(RecoItem(pid, round(float(art.pop[pid]), 4), "new to you: popular"))
    return items


def search(
    states: Sequence[UserState],
    art: Artifacts,
    k: int = 10,
    now_ms: Sequence[int | None] | None = None,
) -> list[Recommendation]:
    """Re-ranked by live search intent: blended score + ``SEARCH_BOOST`` x the decayed search
    match, so the products matching a fresh search come first ("matches your search
    'yogurt'") and sink back as it fades."""
    out = []
    for state, (c, scores, top) in zip(states, rank_many(states, art, k, now_ms), strict=True):
        if c.search_query and len(c.pids):
            match = c.X[:, _SEARCH]
            boosted = scores + SEARCH_BOOST * match
            top = (-boosted).argsort(kind="stable")[:k]
            items = _search_items(art, c, boosted, top, _with_reasons(state, art, c, scores, top))
        else:
            items = _with_reasons(state, art, c, scores, top)
        out.append(_answer(state, art, items, "search", len(c.pids)))
    return out


def _search_items(
    art: Artifacts, c: Candidates, boosted: np.ndarray, top: np.ndarray, items: list[RecoItem]
) -> list[RecoItem]:
    """The boosted scores, with the search named for every item that matches one."""
    out = []
    for row, item in zip(top.tolist(), items, strict=True):
        best = c.search_best(row)
        reason = item.reason
        if best >= 0:
            reason = f"matches your search '{_short(c.search_query[best])}'"
        out.append(RecoItem(item.product_id, round(float(boosted[row]), 4), reason))
    return out


MODELS: dict[str, SurfaceModel] = {
    "blended": blended,
    "buy_again": buy_again,
    "basket": basket,
    "search": search,
}
"""Every surface's model by name; ``blended`` is the default answer."""
