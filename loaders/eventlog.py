"""Event logs: JSON lines, one encoded event (:func:`schemas.events.encode`) per line.

Written by ``stream-app import-instacart`` and ``stream-app record``; read by replay and eval.
Blank lines are skipped; any other line that does not decode is :class:`InvalidData` naming
``file:line`` and the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Iterator
from pathlib import Path

from schemas.errors import InvalidData, InvalidEvent
from schemas.events import Event, decode, encode

__all__ = ["read_event_log", "write_event_log"]


def read_event_log(
    path: Path,
    known_products: Container[int] | None = None,
    on_bad: Callable[[str, InvalidEvent], None] | None = None,
) -> Iterator[Event]:
    """Yield the events of a JSON-lines log in file order.

    ``known_products`` is passed to :func:`~schemas.events.decode` (unknown product = bad line).
    A bad line is :class:`InvalidData` naming ``file:line``, or, when ``on_bad`` is given, is
    handed to it as ``("file:line: reason: detail", error)`` and skipped.

    >>> import tempfile
    >>> from schemas.events import Checkout
    >>> p = Path(tempfile.mkdtemp()) / "log.jsonl"
    >>> write_event_log(p, [Checkout("o1-c", 7, 1_500_000_000_000, 1)])
    1
    >>> list(read_event_log(p))
    [Checkout(event_id='o1-c', user_id=7, ts=1500000000000, order_id=1, type='checkout')]
    >>> _ = p.write_bytes(p.read_bytes() + b'\\n{"type":"search"}\\n')
    >>> list(read_event_log(p))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    schemas.errors.InvalidData: ...log.jsonl:3: missing_field: field 'event_id' is required
    """
    path = Path(path)
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise InvalidData(f"{path}: cannot open event log ({exc.strerror})") from exc
    with fh:
        for number, line in enumerate(fh, start=1):
            raw = line.strip()
            if not raw:
                continue
            try:
                yield decode(raw, known_products)
            except InvalidEvent as exc:
                where = f"{path}:{number}: {exc}"
                if on_bad is None:
                    raise InvalidData(where) from exc
                on_bad(where, exc)


def write_event_log(path: Path, events: Iterable[Event]) -> int:
    """Write events as JSON lines (replacing the file); returns how many were written."""
    count = 0
    try:
        with Path(path).open("wb") as fh:
            for event in events:
                fh.write(encode(event))
                fh.write(b"\n")
                count += 1
    except OSError as exc:
        raise InvalidData(f"{path}: cannot write event log ({exc.strerror})") from exc
    return count
