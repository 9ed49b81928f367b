"""The worker's error policy, in one place: skip (dead-letter), retry, reseed or stop.

Each branch is implemented where the error can arise: ``Pipeline.decode`` dead-letters bad
events, :func:`~stream_app.worker.sinks.write_until_done` retries the sink, ``Pipeline.load``
reseeds
an unreadable state, and the batch task's ``except`` calls :func:`stop_worker`.

::

    exception raised while handling a batch        decision
    ─────────────────────────────────────────────  ────────────────────────────────────────────
    InvalidEvent (bad JSON, missing field, unknown  SKIP: a DeadLetter record goes to the
      product, oversized, key/user mismatch, ...)   dead-letter topic; the events around it go on
    SinkError (Redis down or refusing writes)       RETRY: back off and write again; the batch is
                                                    not acked until its answers are in Redis
    InvalidData reading a user's stored state       RESEED: the user starts again from the seed
      (corrupt, truncated, older format)            (batch history), a DeadLetter with stage
                                                    "state" keeps the stored bytes; the batch goes
                                                    on (caught where the state is read, in
                                                    ``Pipeline.load``: the changelog would restore
                                                    the same bytes after any restart)
    anything else (a bug, ...)                      STOP: log loudly with the traceback and end
                                                    the process *without committing* the batch

Why stop hard: a batch that raised is not acked, but the batch task would be gone while the
worker kept its partitions, and a graceful shutdown commits what Faust holds as acked; a restart
inside the process would also resume past the failed batch's offsets (Faust's read offsets moved
past them when they were fetched), so its events would never be applied. Ending the process with
:func:`os._exit` skips that commit: Kafka redelivers the batch to the next worker, and replaying
it is harmless: each user's stored buffer knows the highest offset it folded per source
partition and drops redelivered messages (:mod:`features.reorder`).
"""

from __future__ import annotations

import base64
import logging
import os
import sys
from dataclasses import asdict, dataclass, replace
from typing import Any, NoReturn

import orjson

from schemas.errors import InvalidEvent
from stream_app.clock import wall_ms

__all__ = [
    "EXIT_FATAL",
    "KEEP_KEY_CHARS",
    "KEEP_RAW_BYTES",
    "DeadLetter",
    "dead_letter",
    "stop_worker",
    "unreadable_state",
]

log = logging.getLogger(__name__)

EXIT_FATAL = 70
"""Exit status of a worker stopped by an unexpected error (``EX_SOFTWARE``)."""

KEEP_RAW_BYTES = 64 * 1024
"""The most of a rejected value a dead letter keeps (base64 makes it ~87 KB)."""
KEEP_KEY_CHARS = 1024
"""The most of a rejected message's key a dead letter keeps."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One rejected input, with everything needed to find, understand and replay it.

    ``key`` is the Kafka key as a latin-1 string (lossless for any bytes); ``raw_b64`` is the
    original value, base64-encoded; ``ts`` is the wall-clock epoch ms of the rejection.
    ``raw_size`` is the original value's length. A record must fit in one Kafka message
    (an input just under the broker's 1 MB limit grows by a third in base64), so only the
    first :data:`KEEP_RAW_BYTES` of the value and :data:`KEEP_KEY_CHARS` of the key are kept;
    ``truncated`` says so, and ``topic``/``partition``/``offset`` still find the original.

    ``stage`` is ``"decode"`` for a rejected event, ``"state"`` for a user's unreadable stored
    state (:func:`unreadable_state`): then ``raw_b64`` is the stored table value, ``key`` the
    user's key and ``topic``/``partition``/``offset`` the first event of the batch for that
    user (the table's changelog partition has the same number).
    """

    stage: str
    reason: str
    detail: str
    topic: str
    partition: int
    offset: int
    key: str | None
    raw_b64: str
    ts: int
    raw_size: int = -1
    """Length of the original value (-1 in records written before it was kept)."""
    truncated: bool = False

    @property
    def raw(self) -> bytes:
        """The original value bytes (the first :data:`KEEP_RAW_BYTES` when ``truncated``)."""
        return base64.b64decode(self.raw_b64)

    def to_bytes(self) -> bytes:
        """Compact JSON, the value produced to the dead-letter topic."""
        return orjson.dumps(asdict(self))

    @classmethod
    def from_bytes(cls, raw: bytes) -> DeadLetter:
        """Parse a dead-letter value (as consumed from the dead-letter topic)."""
        obj: dict[str, Any] = orjson.loads(raw)
        return cls(**obj)


def dead_letter(
    exc: BaseException,
    *,
    stage: str,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    raw: bytes | None,
    now_ms: int | None = None,
) -> DeadLetter:
    """Build the dead-letter record of an input rejected at ``stage`` because of ``exc``.

    >>> d = dead_letter(InvalidEvent("unknown_product", "product_id 9 is not in the catalog"),
    ...                 stage="decode", topic="cart-adds", partition=3, offset=41, key=b"7",
    ...                 raw=b'{"x":1}', now_ms=1)
    >>> d.reason, d.key, d.raw, DeadLetter.from_bytes(d.to_bytes()) == d
    ('unknown_product', '7', b'{"x":1}', True)
    >>> big = dead_letter(ValueError("x"), stage="decode", topic="t", partition=0, offset=0,
    ...                   key=b"7", raw=b"y" * 900_000, now_ms=1)
    >>> len(big.raw), big.raw_size, big.truncated, len(big.to_bytes()) < 100_000
    (65536, 900000, True, True)
    """
    reason = exc.reason if isinstance(exc, InvalidEvent) else type(exc).__name__
    detail = exc.detail if isinstance(exc, InvalidEvent) else str(exc)
    raw = raw or b""
    text_key = None if key is None else key.decode("latin-1")
    truncated = len(raw) > KEEP_RAW_BYTES or (
        text_key is not None and len(text_key) > KEEP_KEY_CHARS
    )
    return DeadLetter(
        stage=stage,
        reason=reason,
        detail=detail[:500],
        topic=topic,
        partition=partition,
        offset=offset,
        key=None if text_key is None else text_key[:KEEP_KEY_CHARS],
        raw_b64=base64.b64encode(raw[:KEEP_RAW_BYTES]).decode("ascii"),
        ts=wall_ms() if now_ms is None else now_ms,
        raw_size=len(raw),
        truncated=truncated,
    )


def unreadable_state(
    exc: BaseException,
    *,
    user_id: int,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    raw: bytes,
    now_ms: int | None = None,
) -> DeadLetter:
    """The dead letter of a user's stored state that could not be read (stage ``"state"``).

    >>> d = unreadable_state(ValueError("bad magic"), user_id=7, topic="cart-adds",
    ...                      partition=3, offset=41, key=b"7", raw=b"junk", now_ms=1)
    >>> d.stage, d.reason, d.detail, d.raw
    ('state', 'unreadable_state', 'user 7: stored state unreadable, reseeded: bad magic', b'junk')
    """
    record = dead_letter(
        exc,
        stage="state",
        topic=topic,
        partition=partition,
        offset=offset,
        key=key,
        raw=raw,
        now_ms=now_ms,
    )
    detail = f"user {user_id}: stored state unreadable, reseeded: {exc}"
    return replace(record, reason="unreadable_state", detail=detail[:500])


def stop_worker(exc: BaseException, where: str) -> NoReturn:
    """STOP: log the error loudly with its traceback and end the process without committing.

    See the module docstring for why this does not raise into Faust.
    """
    log.critical(
        "STOPPING THE WORKER: unexpected %s in %s; the current batch is NOT committed and "
        "will be redelivered after a restart",
        type(exc).__name__,
        where,
        exc_info=exc,
    )
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_FATAL)
