"""Per-user feature state: a frozen, bounded, compactly serialised record.

The long-term purchase history is stored column-wise (one tuple per attribute, rows sorted by
product id) so that the scorer turns it into numpy arrays with a handful of ``np.asarray``
calls and finds candidates in it with ``np.searchsorted``.

Serialised form (:meth:`UserState.to_bytes`): an orjson array of the fields in declaration
order, prefixed by a format version. A 99-order shopper with 400 remembered products takes
about 12 KB; a typical one 2-4 KB.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, fields
from itertools import chain
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
        """Parse bytes written by :meth:`to_bytes`; :class:`InvalidData` when they are not, or
        when they do not have its shape and types (so that a bad stored state is refused
        here, not by a crash in scoring).

        >>> UserState.from_bytes(b'[2,7,0,0,0,[],["1"],0,0,[],[[],[],[],[],[],[],[]],[],[]]')
        Traceback (most recent call last):
        ...
        schemas.errors.InvalidData: user state: basket must be a list of integers
        """
        try:
            obj: Any = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidData(f"user state is not JSON: {exc}") from exc
        if not isinstance(obj, list) or not obj or obj[0] != STATE_FORMAT:
            raise InvalidData(f"user state is not format {STATE_FORMAT}")
        if len(obj) != 13:
            raise InvalidData(f"user state has {len(obj)} fields, not 13")
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
        for name, value in (
            ("user_id", user_id),
            ("last_ts", last_ts),
            ("n_orders", n_orders),
            ("total_items", total_items),
            ("session_start_ts", session_start_ts),
            ("last_add_ts", last_add_ts),
        ):
            if type(value) is not int:
                raise InvalidData(f"user state: {name} must be an integer, not {value!r:.40}")
        _check_ints(order_ts, "order_ts")
        _check_ints(basket, "basket")
        if type(recent_orders) is not list:
            raise InvalidData("user state: recent_orders must be a list of integer lists")
        for order in recent_orders:
            _check_ints(order, "recent_orders")
        if type(searches) is not list or not all(
            type(s) is list and len(s) == 2 and type(s[0]) is str and type(s[1]) is int
            for s in searches
        ):
            raise InvalidData("user state: searches must be a list of [query, ts] pairs")
        if type(recent_ids) is not list or not all(type(i) is str for i in recent_ids):
            raise InvalidData("user state: recent_ids must be a list of strings")
        if type(history) is not list or len(history) != len(_HISTORY_COLUMNS):
            raise InvalidData(f"user state: history must have {len(_HISTORY_COLUMNS)} columns")
        for name, col in zip(_HISTORY_COLUMNS, history, strict=True):
            _check_ints(col, f"history.{name}")
        pid = history[0]
        if any(len(col) != len(pid) for col in history):
            raise InvalidData("user state: history columns differ in length")
        if pid and (pid[0] < 0 or pid[-1] >= 1 << 63 or not all(map(operator.lt, pid, pid[1:]))):
            raise InvalidData("user state: history.pid must be strictly increasing ids")
        if (b"true" in raw or b"false" in raw) and bool in set(
            map(type, chain(order_ts, basket, *history, *recent_orders))
        ):  # a JSON true/false passes the sums above as 1/0; none in the usual state
            raise InvalidData("user state: a true/false where an integer belongs")
        return cls(
            user_id=user_id,
            last_ts=last_ts,
            n_orders=n_orders,
            total_items=total_items,
            order_ts=tuple(order_ts),
            basket=tuple(basket),
            session_start_ts=session_start_ts,
            last_add_ts=last_add_ts,
            searches=tuple((q, t) for q, t in searches),
            history=History(*(tuple(col) for col in history)),
            recent_ids=tuple(recent_ids),
            recent_orders=tuple(tuple(o) for o in recent_orders),
        )


_HISTORY_COLUMNS = tuple(f.name for f in fields(History))


def _check_ints(value: Any, name: str) -> None:
    """:class:`InvalidData` unless ``value`` is a list of integers (or bools, which the caller
    rules out): ``sum`` fails on anything else but numbers and is a float if one is a float.
    """
    try:
        ok = type(value) is list and type(sum(value)) is int
    except TypeError:
        ok = False
    if not ok:
        raise InvalidData(f"user state: {name} must be a list of integers")


def empty_state(user_id: int) -> UserState:
    """The state of a shopper nobody has seen yet.

    >>> empty_state(7).n_orders, empty_state(7).basket
    (0, ())
    """
    return UserState(user_id=user_id)
