"""loaders.eventlog: JSON-lines event logs round-trip; a bad line names file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from loaders.eventlog import read_event_log, write_event_log
from schemas.errors import InvalidData
from schemas.events import CartAdd, Checkout, Search

EVENTS = [
    Search("o1-s1", 7, "yogurt", 1_500_000_000_000, synthetic=True),
    CartAdd("o1-a1", 7, 12, 1_500_000_010_000, 1),
    Checkout("o1-c", 7, 1_500_000_070_000, 1),
]


def test_written_log_reads_back_the_same_events(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    assert write_event_log(path, EVENTS) == 3
    assert list(read_event_log(path)) == EVENTS
    assert path.read_bytes().count(b"\n") == 3


def test_blank_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    write_event_log(path, EVENTS)
    path.write_bytes(b"\n" + path.read_bytes().replace(b"\n", b"\n\n"))
    assert list(read_event_log(path)) == EVENTS


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"{not json", "malformed_json"),
        (
            b'{"type":"cart_add","event_id":"x","user_id":7,"product_id":99,"ts":1500000000000}',
            "unknown_product",
        ),
        (
            b'{"type":"search","event_id":"x","user_id":7,"query":" ","ts":1500000000000}',
            "empty_query",
        ),
    ],
)
def test_bad_line_is_invalid_data_naming_the_line(tmp_path: Path, line: bytes, reason: str) -> None:
    path = tmp_path / "log.jsonl"
    write_event_log(path, EVENTS)
    path.write_bytes(path.read_bytes() + line + b"\n")
    events = read_event_log(path, known_products={12})
    with pytest.raises(InvalidData, match=rf"log.jsonl:4: {reason}"):
        list(events)


def test_missing_log_is_invalid_data(tmp_path: Path) -> None:
    with pytest.raises(InvalidData, match="cannot open event log"):
        list(read_event_log(tmp_path / "nope.jsonl"))
