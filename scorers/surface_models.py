"""PLACEHOLDER until the scoring models of issue 16 land (owned by the ``disc`` branch).

The interface the worker codes against: ``MODELS[name](states, artifacts, k, now_ms)``, one
answer per state. Here every model is today's blended answer, except ``buy_again``, which keeps
only products the shopper bought before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from features.state import UserState
from schemas.recommendation import Recommendation
from scorers.artifacts import Artifacts
from scorers.rank import recommend_many

__all__ = ["MODELS", "SurfaceModel"]

SurfaceModel = Callable[
    [Sequence[UserState], Artifacts, int, Sequence[int | None] | None], list[Recommendation]
]


def _buy_again(
    states: Sequence[UserState],
    art: Artifacts,
    k: int,
    now_ms: Sequence[int | None] | None = None,
) -> list[Recommendation]:
    """The blended answer, keeping only products from the shopper's history."""
    answers = recommend_many(states, art, k, now_ms)
    return [
        replace(a, items=tuple(i for i in a.items if s.history.row(i.product_id) is not None))
        for s, a in zip(states, answers, strict=True)
    ]


MODELS: dict[str, SurfaceModel] = {
    "blended": recommend_many,
    "buy_again": _buy_again,
    "basket": recommend_many,
    "search": recommend_many,
}
