"""Serving picks the user's own answer, else the fallback, and reports its age."""

from __future__ import annotations

import pytest

from schemas.errors import InvalidEvent, ServiceError
from schemas.events import MAX_USER_ID, Checkout, decode, encode
from schemas.recommendation import RecoItem, Recommendation
from stream_app.serving import choose, parse_user_id


def _raw(user: int | None, source: str, updated_at: int) -> bytes:
    reco = Recommendation(user, (RecoItem(7, 0.5, "r"),), "m", source, updated_at, 3)
    return reco.to_bytes()


def test_own_answer_wins_over_fallback_with_its_age() -> None:
    served = choose(42, [_raw(42, "stream", 1_000), _raw(None, "fallback", 500)], now_ms=1_250)
    assert not served.is_fallback
    assert served.recommendation.source == "stream"
    assert served.age_ms == 250


def test_unknown_user_gets_the_fallback() -> None:
    served = choose(42, [None, _raw(None, "fallback", 500)], now_ms=600)
    assert served.is_fallback and served.recommendation.user_id is None
    body = served.to_dict(names={7: "Bananas"})
    assert body["user_id"] == 42 and body["fallback"] is True and body["age_ms"] == 100
    assert body["items"] == [{"product_id": 7, "score": 0.5, "reason": "r", "name": "Bananas"}]


def test_no_answer_and_no_fallback_is_a_service_error() -> None:
    with pytest.raises(ServiceError, match="stream-app build"):
        choose(42, [None, None], now_ms=0)


@pytest.mark.parametrize("own", [b"not json", b'{"user_id":7,"items":"oops"}', b"[1]"])
def test_an_unreadable_own_answer_serves_the_fallback(own: bytes) -> None:
    served = choose(7, [own, _raw(None, "fallback", 500)], now_ms=600)
    assert served.is_fallback and served.recommendation.source == "fallback"
    assert served.to_dict(names={})["user_id"] == 7


def test_an_unreadable_fallback_is_a_service_error_not_a_crash() -> None:
    with pytest.raises(ServiceError, match="fallback in Redis is unreadable"):
        choose(7, [None, b"garbage"], now_ms=0)
    with pytest.raises(ServiceError, match="fallback in Redis is unreadable"):
        choose(7, [b"garbage", b"garbage"], now_ms=0)


@pytest.mark.parametrize("text", ["", "abc", "0", "-3", "1.5", "9" * 30])
def test_bad_user_ids_are_rejected(text: str) -> None:
    with pytest.raises(InvalidEvent):
        parse_user_id(text)


@pytest.mark.parametrize(
    "text",
    [
        "²",  # str.isdigit() is True, int() raises a bare ValueError
        "٤٢",  # Arabic-Indic 42: int() would read it as 42
        "４２",  # fullwidth 42
        "-1",
        "+1",
        "",
        " 12 ",
        "12\n",
        str(2**63),
        "1" * 20,
        "0" * 20 + "1",
        "1_000",
    ],
)
def test_only_ascii_digits_in_range_are_user_ids(text: str) -> None:
    with pytest.raises(InvalidEvent) as info:
        parse_user_id(text)
    assert info.value.reason == "bad_user_id"
    assert repr(text)[:40] in info.value.detail


@pytest.mark.parametrize(("text", "user"), [("42", 42), ("007", 7), (str(2**63 - 1), 2**63 - 1)])
def test_good_user_ids_parse(text: str, user: int) -> None:
    assert parse_user_id(text) == user


@pytest.mark.parametrize("user", [1, 42, 2**32, MAX_USER_ID])
def test_every_user_intake_accepts_can_be_served(user: int) -> None:
    event = decode(encode(Checkout("e1", user, 1_500_000_000_000)))
    assert parse_user_id(str(event.user_id)) == user
