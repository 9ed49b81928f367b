"""Bad input for the fuzz scenario: messages the worker must dead-letter, never apply.

Every kind breaks the event contract (``schemas.events``) or the keying contract (key =
``str(user_id)``) in one way. Each bad message is derived from a real event of the replay (same
shopper, topic and time), so it lands in the partitions the good events use and a bad message
accepted by mistake would change that shopper's answer, which the twin comparison then shows.

>>> from schemas.events import CartAdd
>>> e = CartAdd("o1-a1", 7, 196, 1_500_000_000_000)
>>> sorted(KINDS) == sorted(set(KINDS)) and len(KINDS) >= 20
True
>>> KINDS["wrong_key"](e, 999_999)[0], KINDS["null_key"](e, 999_999)[0]
(b'8', None)
>>> len(KINDS["one_megabyte"](e, 999_999)[1]) > 1_000_000
True
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import orjson

from schemas.events import Event, encode, to_dict
from schemas.keys import user_key
from stream_app.settings import Settings

__all__ = ["KINDS", "Raw", "interleave"]

Maker = Callable[[Event, int], tuple[bytes | None, bytes | None]]
"""``(good event, an unknown product id) -> (key, value)`` of a bad message."""


def _with(e: Event, **fields: object) -> bytes:
    """The event's JSON with some fields replaced (``None`` values removed from the object)."""
    obj = {**to_dict(e), **fields}
    return orjson.dumps({k: v for k, v in obj.items() if v is not None})


def _raw(e: Event, field: str, literal: bytes) -> bytes:
    """The event's JSON with ``field`` set to a raw JSON ``literal`` (possibly invalid JSON)."""
    obj = to_dict(e)
    obj[field] = "@@"
    return orjson.dumps(obj).replace(b'"@@"', literal)


KINDS: dict[str, Maker] = {
    "truncated_json": lambda e, _: (user_key(e.user_id), encode(e)[: len(encode(e)) // 2]),
    "not_an_object": lambda e, _: (user_key(e.user_id), b"[1,2,3]"),
    "unknown_type": lambda e, _: (user_key(e.user_id), _with(e, type="refund")),
    "missing_field": lambda e, _: (user_key(e.user_id), _with(e, ts=None)),
    "user_id_as_text": lambda e, _: (user_key(e.user_id), _with(e, user_id=str(e.user_id))),
    "ts_as_text": lambda e, _: (user_key(e.user_id), _with(e, ts="2017-01-01T10:00:00Z")),
    "user_id_bool": lambda e, _: (user_key(e.user_id), _with(e, user_id=True)),
    "user_id_float": lambda e, _: (
        user_key(e.user_id),
        _raw(e, "user_id", f"{e.user_id}.5".encode()),
    ),
    "user_id_huge": lambda e, _: (user_key(e.user_id), _raw(e, "user_id", str(2**70).encode())),
    "nan_ts": lambda e, _: (user_key(e.user_id), _raw(e, "ts", b"NaN")),
    "infinite_ts": lambda e, _: (user_key(e.user_id), _raw(e, "ts", b"1e400")),
    "negative_user_id": lambda e, _: (b"-" + user_key(e.user_id), _with(e, user_id=-e.user_id)),
    "zero_user_id": lambda e, _: (b"0", _with(e, user_id=0)),
    "unknown_product": lambda e, unknown: (
        user_key(e.user_id),
        _with(e, type="cart_add", product_id=unknown, query=None, synthetic=None),
    ),
    "negative_product": lambda e, _: (
        user_key(e.user_id),
        _with(e, type="cart_add", product_id=-196, query=None, synthetic=None),
    ),
    "empty_query": lambda e, _: (
        user_key(e.user_id),
        _with(e, type="search", query="   ", product_id=None, order_id=None),
    ),
    "seconds_not_ms": lambda e, _: (user_key(e.user_id), _with(e, ts=e.ts // 1000)),
    "long_event_id": lambda e, _: (user_key(e.user_id), _with(e, event_id="x" * 5_000)),
    "one_megabyte": lambda e, _: (user_key(e.user_id), _with(e, pad="x" * 1_000_000)),
    "invalid_utf8": lambda e, _: (user_key(e.user_id), _raw(e, "event_id", b'"\xff\xfe\xfd"')),
    "lone_surrogate": lambda e, _: (user_key(e.user_id), _raw(e, "event_id", b'"\\ud800"')),
    "deep_nesting": lambda e, _: (user_key(e.user_id), b"[" * 5_000 + b"]" * 5_000),
    "empty_value": lambda e, _: (user_key(e.user_id), b""),
    "null_value": lambda e, _: (user_key(e.user_id), None),
    "null_key": lambda e, _: (None, encode(e)),
    "wrong_key": lambda e, _: (str(e.user_id + 1).encode(), encode(e)),
    "binary_garbage": lambda e, _: (user_key(e.user_id), bytes(range(256))),
}


@dataclass(frozen=True, slots=True)
class Raw:
    """One message to produce: a good event's or a bad one (``bad`` names its kind)."""

    topic: str
    key: bytes | None
    value: bytes | None
    ts: int
    bad: str | None = None


def interleave(
    events: Sequence[Event], settings: Settings, n_bad: int, unknown_product: int, seed: int
) -> list[Raw]:
    """The good events in order with ``n_bad`` bad messages at random places, every kind in
    turn (a seeded shuffle of the kinds, repeated), each derived from the good event it follows.
    """

    rng = random.Random(seed)
    kinds = list(KINDS)
    rng.shuffle(kinds)
    after = sorted(rng.randrange(len(events)) for _ in range(n_bad))
    out: list[Raw] = []
    j = 0
    for i, e in enumerate(events):
        out.append(Raw(settings.topic_for(e.type), user_key(e.user_id), encode(e), e.ts))
        while j < len(after) and after[j] == i:
            kind = kinds[j % len(kinds)]
            key, value = KINDS[kind](e, unknown_product)
            topic = settings.topic_for(rng.choice(["cart_add", "search", "checkout"]))
            out.append(Raw(topic, key, value, e.ts, bad=kind))
            j += 1
    return out
