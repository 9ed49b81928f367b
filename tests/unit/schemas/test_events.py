"""The event contract: every bad input gets a precise reason, good input round-trips."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas import CartAdd, Checkout, InvalidEvent, Search, decode, encode
from schemas.events import MAX_EVENT_BYTES, MAX_TS_MS, MAX_USER_ID, MIN_TS_MS

TS = 1_500_000_000_000
GOOD = {"type": "cart_add", "event_id": "e1", "user_id": 7, "product_id": 196, "ts": TS}


def reason_of(raw: bytes, **kwargs: object) -> str:
    with pytest.raises(InvalidEvent) as info:
        decode(raw, **kwargs)  # type: ignore[arg-type]
    return info.value.reason


def with_(**changes: object) -> bytes:
    obj = {**GOOD, **changes}
    return orjson.dumps({k: v for k, v in obj.items() if v is not ...})


def test_good_cart_add_decodes_to_typed_event() -> None:
    assert decode(with_(order_id=5)) == CartAdd("e1", 7, 196, TS, order_id=5)


def test_unknown_extra_fields_are_ignored() -> None:
    assert decode(with_(colour="blue")) == CartAdd("e1", 7, 196, TS)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "malformed_json"),
        (b"[1, 2]", "not_an_object"),
        (with_(type="view"), "unknown_type"),
        (with_(type=...), "unknown_type"),
        (with_(user_id=...), "missing_field"),
        (with_(product_id=None), "missing_field"),
        (with_(user_id="7"), "wrong_type"),
        (with_(user_id=True), "wrong_type"),
        (with_(product_id=1.5), "wrong_type"),
        (with_(user_id=-3), "bad_value"),
        (with_(event_id=""), "bad_value"),
        (with_(ts=1_500_000_000), "absurd_timestamp"),
        (with_(ts=MAX_TS_MS), "absurd_timestamp"),
        (with_(type="search", query="   "), "empty_query"),
        (with_(type="search", query="x", synthetic="yes"), "wrong_type"),
    ],
)
def test_bad_event_is_rejected_with_precise_reason(raw: bytes, reason: str) -> None:
    assert reason_of(raw) == reason


@pytest.mark.parametrize("kind", ["cart_add", "search", "checkout"])
def test_user_id_above_the_served_range_is_a_bad_value(kind: str) -> None:
    assert MAX_USER_ID == 2**63 - 1
    extra = {"query": "milk"} if kind == "search" else {}
    for user in (2**63, 2**64 - 1):  # orjson parses both; serving could never read them back
        with pytest.raises(InvalidEvent) as info:
            decode(with_(type=kind, user_id=user, **extra))
        assert info.value.reason == "bad_value"
        assert "'user_id'" in info.value.detail and str(user) in info.value.detail
    assert decode(with_(type=kind, user_id=2**63 - 1, **extra)).user_id == 2**63 - 1


def test_oversized_payload_is_rejected_before_parsing() -> None:
    raw = with_(pad="x" * MAX_EVENT_BYTES)
    assert reason_of(raw) == "oversized"
    assert decode(raw, max_bytes=2 * MAX_EVENT_BYTES).user_id == 7


def test_unknown_product_is_rejected_only_when_catalog_given() -> None:
    assert reason_of(with_(product_id=999), known_products={196}) == "unknown_product"
    assert decode(with_(product_id=196), known_products={196}).product_id == 196


events = st.one_of(
    st.builds(
        CartAdd,
        st.text(min_size=1, max_size=20),
        st.integers(1, 2**40),
        st.integers(1, 2**40),
        st.integers(MIN_TS_MS, MAX_TS_MS - 1),
        st.none() | st.integers(1, 2**40),
    ),
    st.builds(
        Search,
        st.text(min_size=1, max_size=20),
        st.integers(1, 2**40),
        st.text(min_size=1, max_size=50).map(str.strip).filter(bool),
        st.integers(MIN_TS_MS, MAX_TS_MS - 1),
        st.booleans(),
    ),
    st.builds(
        Checkout,
        st.text(min_size=1, max_size=20),
        st.integers(1, 2**40),
        st.integers(MIN_TS_MS, MAX_TS_MS - 1),
        st.none() | st.integers(1, 2**40),
    ),
)


@given(events)
def test_encode_then_decode_round_trips(event: CartAdd | Search | Checkout) -> None:
    assert decode(encode(event)) == event
