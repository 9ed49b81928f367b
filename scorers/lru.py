"""The least-recently-used memo shared by the scorer's derived-data caches.

Memos live on the :class:`~scorers.artifacts.Artifacts` as plain ``OrderedDict`` objects
(least recently used first): losing one costs a recomputation, never a wrong answer.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

__all__ = ["lru_get"]

V = TypeVar("V")


def lru_get(
    memo: OrderedDict,
    key: Hashable,
    build: Callable[[], V],
    size: int,
    valid: Callable[[V], bool] | None = None,
) -> V:
    """``memo[key]`` when present (and ``valid``), marked most recently used; otherwise
    ``build()``, stored under ``key``, the least recently used entry dropped past ``size``.

    >>> memo = OrderedDict()
    >>> lru_get(memo, "a", lambda: 1, 2), lru_get(memo, "b", lambda: 2, 2)
    (1, 2)
    >>> lru_get(memo, "a", lambda: 99, 2), lru_get(memo, "c", lambda: 3, 2), list(memo)
    (1, 3, ['a', 'c'])
    >>> lru_get(memo, "a", lambda: 4, 2, valid=lambda v: v > 1)
    4
    """
    value = memo.get(key)
    if value is not None and (valid is None or valid(value)):
        memo.move_to_end(key)
        return value
    value = memo[key] = build()
    if len(memo) > size:
        memo.popitem(last=False)
    return value
