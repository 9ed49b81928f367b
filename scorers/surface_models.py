"""The answer of every surface: one pure function per surface, looked up in :data:`MODELS`.

Each has the signature of :func:`scorers.rank.recommend_many`, ``(states, art, k, now_ms)``,
and its contract: one answer per state, pure and deterministic, basket items never included,
ties broken by product id, ``source="stream"``, ``event_ts=state.last_ts``, a short reason per
item. The worker and ``stream-app eval`` call the same functions (offline/live parity).

* ``blended``: the default answer (``reco:{user_id}``): the linear re-ranker over history,
  basket, search and popularity candidates (:func:`scorers.rank.recommend_many`), whose last
  :data:`DISCOVERY_SLOTS` slots go to discovery candidates strong enough
  (score >= :data:`DISCOVERY_MIN`): what the re-ranker, fitted to past habits, never shows.
* ``buy_again``: repurchase-timed items from the shopper's history only, scored by the same
  model *without* the session (basket and searches left out): the cached quadrant, meant to be
  computed at build and at checkout, so ``now_ms`` should be the checkout time.
* ``basket``: "complete your basket": discovery candidates (never bought by the shopper,
  the strongest partners of the current cart by mild lift and aisle transition,
  ``scorers.discovery``; popular products new to the shopper while the cart is empty), and
  in the last slot the blended answer's first item when it is a strong habit.
* ``search``: the blended scores plus :data:`SEARCH_BOOST` x the live (fading) search match,
  so what matches a search comes first while the search counts; without a live search it is
  the blended answer (discovery slots included).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

import numpy as np

from features.state import UserState
from schemas.recommendation import RecoItem, Recommendation
from scorers.artifacts import Artifacts
from scorers.discovery import Discovered, best_possible, discover_many, tighter_bound
from scorers.featurize import COL, Candidates
from scorers.rank import _recommendation, _short, _with_reasons, rank_many, stamped

__all__ = [
    "BASKET_HABIT_MIN",
    "DISCOVERY_MIN",
    "DISCOVERY_SLOTS",
    "MODELS",
    "SEARCH_BOOST",
    "SurfaceModel",
    "basket",
    "blended",
    "buy_again",
    "search",
    "surfaces_many",
]

SurfaceModel = Callable[
    [Sequence[UserState], Artifacts, int, Sequence[int | None] | None], list[Recommendation]
]

DISCOVERY_SLOTS = 2
DISCOVERY_MIN = 0.14
"""A discovery candidate takes one of the blended answer's last ``DISCOVERY_SLOTS`` slots only
with a score of at least this: chosen on the dev file's validation period (each shopper's
second-to-last order), where it found never-bought adds without losing HR@10 (the 10th
blended item is added ~1.5% of the time; a discovery item of this score about as often)."""
BASKET_HABIT_MIN = 14.0
"""Blended score (shipped model) from which the basket surface gives its last slot to the
blended answer's first item; about 1 cart add in 4 on the dev file. Chosen on the validation
period among 8-14 (equal there within 2 hits of 1,303 never-bought adds) as the one that
keeps most slots for new products, the surface's job."""
SEARCH_BOOST = 1.0
"""Added to the blended score per unit of live search match (1 = every query word, fresh), on
top of the model's own search features. On the validation period at search rate 0.3, HR@10
was 0.5311 / 0.5316 / 0.5323 / 0.5309 / 0.5253 for 0 / 0.5 / 1 / 2 / 5: the model already
weighs search intent, a larger boost only pushes habits out."""
_SEARCH = COL["search_match"]
_DAYS_SINCE = COL["u_days_since"]


def blended(
    states: Sequence[UserState],
    art: Artifacts,
    k: int = 10,
    now_ms: Sequence[int | None] | None = None,
) -> list[Recommendation]:
    """The default answer: :func:`scorers.rank.recommend_many`, its last slots given to
    strong discovery candidates ("new to you: goes with Bananas")."""
    return _blended(states, art, k, rank_many(states, art, k, now_ms))


def _blended(
    states: Sequence[UserState],
    art: Artifacts,
    k: int,
    ranked: list[tuple[Candidates, np.ndarray, np.ndarray]],
    search_boost: float = 0.0,
    found: Sequence[Discovered] | None = None,
) -> list[Recommendation]:
    """The blended answers from ``rank_many``'s output (with ``search_boost``: re-ranked by
    the live search match first), then the discovery slots (from ``found``, each shopper's
    discovery candidates, at least ``DISCOVERY_SLOTS + k`` long when it has that many, if
    already computed)."""
    answers = []
    for state, (c, scores, top) in zip(states, ranked, strict=True):
        if search_boost and c.search_query and len(c.pids):
            boosted = scores + search_boost * c.X[:, _SEARCH]
            top = (-boosted).argsort(kind="stable")[:k]
            items = _search_items(art, c, boosted, top, _with_reasons(state, art, c, scores, top))
            answers.append(stamped(state, art, items, len(c.pids)))
        else:
            answers.append(_recommendation(state, art, k, c, scores, top))
    if DISCOVERY_SLOTS <= 0 or not any(s.basket for s in states):
        return answers
    if found is not None:
        return [
            _discovery_slots(reco, art, disc, k) for reco, disc in zip(answers, found, strict=True)
        ]
    # only shoppers who may have a strong enough discovery item (~30% of those with a cart)
    floor = DISCOVERY_MIN * (1 - 1e-9)
    maybe = np.flatnonzero(best_possible(states, art) >= floor).tolist()
    if maybe:
        tight = tighter_bound([states[i] for i in maybe], art)
        maybe = [i for i, b in zip(maybe, tight.tolist(), strict=True) if b >= floor]
    if not maybe:
        return answers
    some = discover_many([states[i] for i in maybe], art, DISCOVERY_SLOTS + k)
    for i, disc in zip(maybe, some, strict=True):
        answers[i] = _discovery_slots(answers[i], art, disc, k)
    return answers


def _discovery_slots(
    reco: Recommendation, art: Artifacts, disc: Discovered, k: int
) -> Recommendation:
    if not len(disc.scores) or disc.scores[0] < DISCOVERY_MIN:
        return reco
    return replace(reco, items=_with_discoveries(reco.items, art, disc, k))


def _with_discoveries(
    items: tuple[RecoItem, ...], art: Artifacts, disc: Discovered, k: int
) -> tuple[RecoItem, ...]:
    """``items`` with up to ``DISCOVERY_SLOTS`` of its last slots (of ``k``) given to the
    strongest discovery items not already in it. Each takes the score of the item whose
    slot it takes, so the list stays in score order."""
    have = {i.product_id for i in items}
    new = [
        (pid, src)
        for pid, score, src in zip(
            disc.pids.tolist(), disc.scores.tolist(), disc.sources.tolist(), strict=True
        )
        if score >= DISCOVERY_MIN and pid not in have
    ][:DISCOVERY_SLOTS]
    if not new:
        return items
    keep = list(items[: max(min(len(items), k) - len(new), 0)])
    floor = items[len(keep)].score if len(items) > len(keep) else 0.0
    return tuple(keep + [RecoItem(pid, floor, _new_reason(art, src)) for pid, src in new])


def _new_reason(art: Artifacts, source: int) -> str:
    return f"new to you: goes with {_short(art.name_of(source))}"


def buy_again(
    states: Sequence[UserState],
    art: Artifacts,
    k: int = 10,
    now_ms: Sequence[int | None] | None = None,
) -> list[Recommendation]:
    """Products of each shopper's history, best first ("due again: usually every 9 days" once
    three quarters of the usual gap have passed).

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
        since = np.expm1(c.X[top, _DAYS_SINCE])  # days since the last purchase
        items = [
            RecoItem(pid, round(s, 4), _due_reason(int(n), d, ago))
            for pid, s, n, d, ago in zip(
                c.pids[top].tolist(),
                scores[top].tolist(),
                c.count[top].tolist(),
                c.interval_days[top].tolist(),
                since.tolist(),
                strict=True,
            )
        ]
        out.append(stamped(state, art, items, len(idx)))
    return out


def _due_reason(count: int, days: float, since: float) -> str:
    """``count`` purchases, usually ``days`` apart, the last ``since`` days ago: "due again"
    from three quarters of the usual gap on.

    >>> _due_reason(4, 8.6, 8.0), _due_reason(4, 8.6, 2.0)
    ('due again: usually every 9 days', 'bought 4 times, usually every 9 days')
    >>> _due_reason(1, 0.0, 30.0), _due_reason(3, 0.2, 5.0)
    ('bought once before', 'bought 3 times')
    """
    if count <= 1:
        return "bought once before"
    if days < 1:
        return f"bought {count} times"
    if since >= 0.75 * days:
        return f"due again: usually every {round(days)} days"
    return f"bought {count} times, usually every {round(days)} days"


def basket(
    states: Sequence[UserState],
    art: Artifacts,
    k: int = 10,
    now_ms: Sequence[int | None] | None = None,
) -> list[Recommendation]:
    """Complete the basket: products new to the shopper that go with the cart ("new to you:
    goes with Bananas"; popular ones while the cart is empty or when too few go with it),
    and the blended answer's first item in the last slot when it scores at least
    :data:`BASKET_HABIT_MIN` (the usual item the shopper is most likely to add now)."""
    return _basket(
        states, art, k, rank_many(states, art, 1, now_ms), discover_many(states, art, k + 1)
    )


def _basket(
    states: Sequence[UserState],
    art: Artifacts,
    k: int,
    ranked: list[tuple[Candidates, np.ndarray, np.ndarray]],
    found: Sequence[Discovered],
) -> list[Recommendation]:
    """The basket answers from ``rank_many``'s output and the discovery candidates (at least
    ``k + 1`` of each shopper's when it has that many: the habit item may be one of them)."""
    out = []
    for state, (c, scores, top), disc in zip(states, ranked, found, strict=True):
        habit = []
        if len(top) and scores[top[0]] >= BASKET_HABIT_MIN:
            habit = _with_reasons(state, art, c, scores, top[:1])
        items = _new_items(state, art, disc, k - len(habit), {i.product_id for i in habit})
        out.append(stamped(state, art, items + habit, len(disc.pids) + len(c.pids)))
    return out


def _new_items(
    state: UserState, art: Artifacts, disc: Discovered, n: int, taken: set[int]
) -> list[RecoItem]:
    """The ``n`` best discovery items not in ``taken``, filled up with popular products the
    shopper never bought."""
    items = [
        RecoItem(pid, round(s, 4), _new_reason(art, src))
        for pid, s, src in zip(
            disc.pids.tolist(), disc.scores.tolist(), disc.sources.tolist(), strict=True
        )
        if pid not in taken
    ][:n]
    if len(items) < n:
        have = {*state.history.pid, *state.basket, *taken, *(i.product_id for i in items)}
        for pid in art.popular.tolist():
            if len(items) >= n:
                break
            if pid not in have:
                items.append(RecoItem(pid, 0.0, "new to you: popular"))
    return items


def search(
    states: Sequence[UserState],
    art: Artifacts,
    k: int = 10,
    now_ms: Sequence[int | None] | None = None,
) -> list[Recommendation]:
    """Re-ranked by live search intent: blended score + ``SEARCH_BOOST`` x the decayed search
    match, every matching item named by its search ("matches your search 'yogurt'"), then
    the blended answer's discovery slots; as the search fades it becomes the blended answer."""
    return _blended(states, art, k, rank_many(states, art, k, now_ms), SEARCH_BOOST)


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


def surfaces_many(
    names: Iterable[str],
    states: Sequence[UserState],
    art: Artifacts,
    k: int = 10,
    now_ms: Sequence[int | None] | None = None,
) -> dict[str, list[Recommendation]]:
    """The answers of several surfaces for the same shoppers, each equal to its
    ``MODELS[name](states, art, k, now_ms)``, with the shared work done once: one
    ``rank_many`` pass for blended, search and basket, one discovery pass for blended and
    basket. What an event that touches several surfaces should call (unknown names raise
    ``KeyError``)."""
    wanted = list(dict.fromkeys(names))
    unknown = [name for name in wanted if name not in MODELS]
    if unknown:  # before any work
        raise KeyError(f"unknown surface(s) {unknown}; known: {sorted(MODELS)}")
    out: dict[str, list[Recommendation]] = {}
    session = [n for n in wanted if n in ("blended", "search", "basket")]
    if session:
        ranked = rank_many(states, art, k, now_ms)
        found = discover_many(states, art, DISCOVERY_SLOTS + k + 1) if "basket" in session else None
        for name in session:
            if name == "basket":
                out[name] = _basket(states, art, k, ranked, found or [])
            else:
                boost = SEARCH_BOOST if name == "search" else 0.0
                out[name] = _blended(states, art, k, ranked, boost, found)
    if "buy_again" in wanted:
        out["buy_again"] = buy_again(states, art, k, now_ms)
    return {name: out[name] for name in wanted}


MODELS: dict[str, SurfaceModel] = {
    "blended": blended,
    "buy_again": buy_again,
    "basket": basket,
    "search": search,
}
"""Every surface's model by name; ``blended`` is the default answer."""
