"""The error policy: what is skipped, retried or stops the worker; dead-letter records."""

from __future__ import annotations

import orjson
import pytest

from schemas.errors import InvalidData, InvalidEvent
from schemas.events import decode
from stream_app.worker.deadletter import (
    KEEP_KEY_CHARS,
    KEEP_RAW_BYTES,
    DeadLetter,
    dead_letter,
    unreadable_state,
)


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
        "raw_size",
        "truncated",
    }
    assert (record.raw_size, record.truncated) == (len(raw), False)


def test_a_dead_letter_fits_in_one_kafka_message_whatever_the_input_size() -> None:
    # an input just under the broker's 1 MB limit, rejected as oversized, used to give a
    # ~1.07 MB record: the producer refused it and the worker stopped on every restart
    raw = b'{"type":"search","query":"' + b"q" * 999_000 + b'"}'
    key = b"k" * 5000
    with pytest.raises(InvalidEvent) as info:
        decode(raw, known_products={1})
    record = dead_letter(
        info.value, stage="decode", topic="searches", partition=1, offset=7, key=key, raw=raw
    )
    assert len(record.to_bytes()) < 100_000  # under any producer's max.request.size
    assert record.truncated and record.raw_size == len(raw)
    assert record.raw == raw[:KEEP_RAW_BYTES] and record.key == key[:KEEP_KEY_CHARS].decode()
    assert (record.reason, record.offset) == ("oversized", 7)
    assert DeadLetter.from_bytes(record.to_bytes()) == record


def test_a_dead_letter_written_before_raw_size_existed_still_parses() -> None:
    old = b'{"stage":"decode","reason":"oversized","detail":"d","topic":"t","partition":0,'
    old += b'"offset":3,"key":"7","raw_b64":"eA==","ts":1}'
    record = DeadLetter.from_bytes(old)
    assert (record.raw, record.raw_size, record.truncated) == (b"x", -1, False)


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
