"""Per-user feature state: a frozen, bounded, compactly serialised record.

The long-term purchase history is stored column-wise (one tuple per attribute, rows sorted by
product id) so that the scorer turns it into numpy arrays with a handful of ``np.asarray``
calls and finds candidates in it with ``np.searchsorted``.

Serialised form (:meth:`UserState.to_bytes`): an orjson array of the fields in declaration
order, prefixed by a format version. A 99-order shopper with 400 remembered products takes
about 12 KB; a typical one 2-4 KB.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import orjson

from schemas.errors import InvalidData

__all__ = ["STATE_FORMAT", "History", "UserState", "empty_state"]

STATE_FORMAT = 2


@dataclass(frozen=True, slots=True)
class History:
    """Long-term purchase history, one row per product, rows sorted by ``pid``.

    ``first_order``/``last_order`` are 1-based order indexes (the user's n-th committed
    order); ``first_ts``/``last_ts`` are the checkout times of those orders; ``pos_sum`` is the
    sum of the 0-based cart positions the product was added at (mean position = pos_sum/count).
    """

    pid: tuple[int, ...] = ()
    count: tuple[int, ...] = ()
    first_order: tuple[int, ...] = ()
    last_order: tuple[int, ...] = ()
    first_ts: tuple[int, ...] = ()
    last_ts: tuple[int, ...] = ()
    pos_sum: tuple[int, ...] = ()

    def __len__(self) -> int:
        return len(self.pid)

    def row(self, product_id: int) -> dict[str, int] | None:
        """The history row of one product as a dict, or None when never bought.

        >>> History(pid=(5,), count=(2,), first_order=(1,), last_order=(3,), first_ts=(10,),
        ...         last_ts=(30,), pos_sum=(1,)).row(5)["count"]
        2
        """
        from bisect import bisect_left

        i = bisect_left(self.pid, product_id)
        if i == len(self.pid) or self.pid[i] != product_id:
            return None
        return {f.name: getattr(self, f.name)[i] for f in fields(self)}


@dataclass(frozen=True, slots=True)
class UserState:
    """Everything the scorer knows about one shopper; updated only by :func:`features.apply`.

    ``last_ts`` is the time of the latest event applied (event time, never wall time).
    ``basket`` holds the open basket's products in the order they were added (no repeats).
    ``searches`` holds ``(normalised query, ts)`` pairs, newest last. ``order_ts`` holds the
    checkout times of the latest committed orders. ``recent_ids`` is a bounded ring of the latest
    event ids, used to make redelivered events no-ops.
    """

    user_id: int
    last_ts: int = 0
    n_orders: int = 0
    total_items: int = 0
    order_ts: tuple[int, ...] = ()
    basket: tuple[int, ...] = ()
    session_start_ts: int = 0
    last_add_ts: int = 0
    searches: tuple[tuple[str, int], ...] = ()
    history: History = History()
    recent_ids: tuple[str, ...] = ()
    recent_orders: tuple[tuple[int, ...], ...] = ()
    """The latest committed baskets (newest last), for recency and basket-similarity features."""

    def to_bytes(self) -> bytes:
        """Compact orjson bytes; :meth:`from_bytes` inverts it exactly.

        >>> s = UserState(7, last_ts=5, basket=(3, 1), searches=(("yogurt", 4),))
        >>> UserState.from_bytes(s.to_bytes()) == s
        True
        """
        h = self.history
        return orjson.dumps(
            [
                STATE_FORMAT,
                self.user_id,
                self.last_ts,
                self.n_orders,
                self.total_items,
                self.order_ts,
                self.basket,
                self.session_start_ts,
                self.last_add_ts,
                self.searches,
                (h.pid, h.count, h.first_order, h.last_order, h.first_ts, h.last_ts, h.pos_sum),
                self.recent_ids,
                self.recent_orders,
            ]
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> UserState:
        """Parse bytes written by :meth:`to_bytes`; :class:`InvalidData` when they are not."""
        try:
            obj: Any = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidData(f"user state is not JSON: {exc}") from exc
        if not isinstance(obj, list) or not obj or obj[0] != STATE_FORMAT:
            raise InvalidData(f"user state is not format {STATE_FORMAT}")
        try:
            (
                _,
                user_id,
                last_ts,
                n_orders,
                total_items,
                order_ts,
                basket,
                session_start_ts,
                last_add_ts,
                searches,
                history,
                recent_ids,
                recent_orders,
            ) = obj
            return cls(
                user_id=int(user_id),
                last_ts=int(last_ts),
                n_orders=int(n_orders),
                total_items=int(total_items),
                order_ts=tuple(order_ts),
                basket=tuple(basket),
                session_start_ts=int(session_start_ts),
                last_add_ts=int(last_add_ts),
                searches=tuple((str(q), int(t)) for q, t in searches),
                history=History(*(tuple(col) for col in history)),
                recent_ids=tuple(recent_ids),
                recent_orders=tuple(tuple(o) for o in recent_orders),
            )
        except (TypeError, ValueError) as exc:
            raise InvalidData(f"user state has the wrong shape: {exc!r}") from exc


def empty_state(user_id: int) -> UserState:
    """The state of a shopper nobody has seen yet.

    >>> empty_state(7).n_orders, empty_state(7).basket
    (0, ())
    """
    return UserState(user_id=user_id)
