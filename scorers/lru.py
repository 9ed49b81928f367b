"""The least-recently-used memo shared by the scorer's derived-data caches.

Memos live on the :class:`~scorers.artifacts.Artifacts` (derived data, not state): losing an
entry costs a recomputation, never a wrong answer. Each is bounded by a number of entries and
by an estimate of the bytes they hold, so a worker's memory does not depend on how big its
users' histories or the catalogue happen to be.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, TypeVar

__all__ = ["LRUMemo"]

V = TypeVar("V")


class LRUMemo(Generic[V]):
    """A memo that drops its least recently used entries past ``max_items`` entries or
    ``max_bytes`` bytes (each entry weighs ``nbytes(value)``; 0 without ``nbytes``).

    The entry just stored is never dropped, even when it alone is over the byte budget.

    >>> memo = LRUMemo(max_items=2)
    >>> memo.get("a", lambda: 1), memo.get("b", lambda: 2)
    (1, 2)
    >>> memo.get("a", lambda: 99), memo.get("c", lambda: 3), list(memo)
    (1, 3, ['a', 'c'])
    >>> memo.get("a", lambda: 4, valid=lambda v: v > 1)
    4
    >>> sized = LRUMemo(max_items=10, max_bytes=100, nbytes=len)
    >>> for key in "xyz":
    ...     _ = sized.get(key, lambda: "#" * 40)
    >>> list(sized), sized.nbytes
    (['y', 'z'], 80)
    >>> _ = sized.get("big", lambda: "#" * 500)
    >>> list(sized), sized.nbytes
    (['big'], 500)
    """

    __slots__ = ("_entries", "_nbytes", "_total", "max_bytes", "max_items")

    def __init__(
        self,
        max_items: int,
        max_bytes: int | None = None,
        nbytes: Callable[[V], int] | None = None,
    ) -> None:
        if max_items <= 0:
            raise ValueError(f"max_items must be positive, got {max_items}")
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._nbytes = nbytes
        self._entries: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._total = 0

    def get(
        self,
        key: Hashable,
        build: Callable[[], V],
        valid: Callable[[V], bool] | None = None,
    ) -> V:
        """The value under ``key`` when present (and ``valid``), marked most recently used;
        otherwise ``build()``, stored under ``key``, dropping the least recently used entries
        while over a bound."""
        entries = self._entries
        hit = entries.get(key)
        if hit is not None and (valid is None or valid(hit[0])):
            entries.move_to_end(key)
            return hit[0]
        value = build()
        size = self._nbytes(value) if self._nbytes is not None else 0
        if hit is not None:
            self._total -= hit[1]
        entries[key] = (value, size)
        entries.move_to_end(key)
        self._total += size
        max_bytes = self.max_bytes
        while len(entries) > 1 and (
            len(entries) > self.max_items or (max_bytes is not None and self._total > max_bytes)
        ):
            _, (_, dropped) = entries.popitem(last=False)
            self._total -= dropped
        return value

    @property
    def nbytes(self) -> int:
        """Estimated bytes held (the sum of ``nbytes`` over the entries)."""
        return self._total

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self._entries)
