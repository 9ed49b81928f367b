"""The error policy: what is skipped, retried or stops the worker; dead-letter records."""

from __future__ import annotations

import orjson
import pytest

from schemas.errors import InvalidData, InvalidEvent
from schemas.events import decode
from stream_app.deadletter import DeadLetter, dead_letter, unreadable_state


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"type":"cart_add"', "malformed_json"),
        (b'{"type":"cart_add","event_id":"e","user_id":7,"ts":1500000000000}', "missing_field"),
        (
            b'{"type":"cart_add","event_id":"e","user_id":7,"product_id":99999999,'
            b'"ts":1500000000000}',
            "unknown_product",
        ),
        (b"x" * 20_000, "oversized"),
    ],
)
def test_dead_letter_record_keeps_reason_position_and_original_bytes(
    raw: bytes, reason: str
) -> None:
    with pytest.raises(InvalidEvent) as info:
        decode(raw, known_products={1, 2, 3})
    record = dead_letter(
        info.value, stage="decode", topic="cart-adds", partition=5, offset=123, key=b"7", raw=raw
    )
    assert record.reason == reason
    assert (record.stage, record.topic, record.partition, record.offset) == (
        "decode",
        "cart-adds",
        5,
        123,
    )
    assert record.key == "7"
    assert record.raw == raw
    assert record.ts > 1_700_000_000_000
    assert DeadLetter.from_bytes(record.to_bytes()) == record
    assert set(orjson.loads(record.to_bytes())) == {
        "stage",
        "reason",
        "detail",
        "topic",
        "partition",
        "offset",
        "key",
        "raw_b64",
        "ts",
    }


def test_dead_letter_of_non_utf8_key_and_missing_value_round_trips() -> None:
    record = dead_letter(
        ValueError("boom"),
        stage="state",
        topic="t",
        partition=0,
        offset=0,
        key=b"\xff\x00",
        raw=None,
    )
    assert record.reason == "ValueError" and record.detail == "boom"
    back = DeadLetter.from_bytes(record.to_bytes())
    assert back.key.encode("latin-1") == b"\xff\x00"
    assert back.raw == b""


def test_unreadable_state_record_names_the_user_and_keeps_the_stored_bytes() -> None:
    stored = b"R1\x00\x00\x00\x02garbage"
    record = unreadable_state(
        InvalidData("corrupt user state buffer: unpack_from requires a buffer"),
        user_id=42,
        topic="checkouts",
        partition=6,
        offset=9,
        key=b"42",
        raw=stored,
    )
    assert (record.stage, record.reason, record.key) == ("state", "unreadable_state", "42")
    assert record.detail.startswith("user 42: stored state unreadable, reseeded: corrupt")
    assert (record.topic, record.partition, record.offset) == ("checkouts", 6, 9)
    assert DeadLetter.from_bytes(record.to_bytes()).raw == stored
