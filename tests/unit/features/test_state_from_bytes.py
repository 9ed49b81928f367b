"""``UserState.from_bytes`` refuses stored states of the wrong shape or types (InvalidData, so
the worker dead-letters them and reseeds the user) instead of letting them crash scoring."""

from __future__ import annotations

import orjson
import pytest

from features import apply, empty_state, fold
from features.state import UserState
from schemas.errors import InvalidData
from schemas.events import CartAdd, Checkout, Search

T0 = 1_500_000_000_000


def _state() -> UserState:
    events = [
        CartAdd("a1", 7, 30, T0),
        CartAdd("a2", 7, 10, T0 + 1),
        Checkout("c1", 7, T0 + 2),
        Search("s1", 7, "greek yogurt", T0 + 3),
        CartAdd("a3", 7, 20, T0 + 4),
    ]
    return fold(empty_state(7), events)


def _fields() -> list:
    return orjson.loads(_state().to_bytes())


def _with(index: int, value: object) -> bytes:
    obj = _fields()
    obj[index] = value
    return orjson.dumps(obj)


def _with_history(change) -> bytes:
    obj = _fields()
    obj[10] = change(obj[10])
    return orjson.dumps(obj)


def test_a_well_formed_state_still_round_trips():
    s = _state()
    assert len(s.history) == 2 and s.basket == (20,) and s.searches
    assert UserState.from_bytes(s.to_bytes()) == s
    # a search that says "true" is not mistaken for a boolean
    s = apply(s, Search("s2", 7, "true lemon false", T0 + 5))
    assert UserState.from_bytes(s.to_bytes()) == s


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (_with_history(lambda h: h[:6]), "7 columns"),
        (_with_history(lambda h: [*h, h[0]]), "7 columns"),
        (_with_history(lambda h: [h[0], h[1][:1], *h[2:]]), "differ in length"),
        (_with_history(lambda h: [h[0], [1.5, 2], *h[2:]]), "history.count"),
        (_with_history(lambda h: [h[0], ["1", "2"], *h[2:]]), "history.count"),
        (_with_history(lambda h: [h[0], [True, 1], *h[2:]]), "true/false"),
        (_with_history(lambda h: [h[0], [True, False], *h[2:]]), "true/false"),
        (_with_history(lambda h: [h[0], [None, 1], *h[2:]]), "history.count"),
        (_with_history(lambda h: [h[0][::-1], *h[1:]]), "strictly increasing"),
        (_with_history(lambda h: [[h[0][0], h[0][0]], *h[1:]]), "strictly increasing"),
        (_with_history(lambda h: "abc"), "7 columns"),
        (_with(6, ["20"]), "basket"),
        (_with(6, [20.0]), "basket"),
        (_with(6, [True]), "true/false"),
        (_with(6, "20"), "basket"),
        (_with(5, ["x"]), "order_ts"),
        (_with(12, [[10, "x"]]), "recent_orders"),
        (_with(12, [10, 30]), "recent_orders"),
        (_with(9, [["yogurt"]]), "searches"),
        (_with(9, [[1, 2]]), "searches"),
        (_with(9, [["yogurt", "2"]]), "searches"),
        (_with(11, [1]), "recent_ids"),
        (_with(1, "7"), "user_id"),
        (_with(2, True), "last_ts"),
        (orjson.dumps(_fields()[:-1]), "fields"),
    ],
)
def test_from_bytes_refuses_states_that_would_crash_scoring(raw, says):
    with pytest.raises(InvalidData, match=says):
        UserState.from_bytes(raw)
