"""Shopper event contracts: ``cart_add``, ``search`` and ``checkout``.

Every event is a JSON object with a ``type`` discriminator. Producers publish each type to its
own topic (``cart-adds``, ``searches``, ``checkouts``), keyed by ``user_id``; recorded event logs
(JSON lines) mix the three, which is why ``type`` is part of the payload.

======== ============================================================================
type     fields (``?`` = optional)
======== ============================================================================
cart_add ``event_id`` str, ``user_id`` int, ``product_id`` int, ``ts`` int (epoch ms),
         ``order_id?`` int
search   ``event_id`` str, ``user_id`` int, ``query`` str, ``ts`` int,
         ``synthetic?`` bool (true when made up by a converter, never by a real shopper)
checkout ``event_id`` str, ``user_id`` int, ``ts`` int, ``order_id?`` int
======== ============================================================================

Unknown extra fields are ignored (producers may add fields before consumers know them).
:func:`decode` is the only way bytes become events; it raises :class:`InvalidEvent` with a
precise ``reason`` code: ``oversized``, ``malformed_json``, ``not_an_object``,
``unknown_type``, ``missing_field``, ``wrong_type``, ``bad_value``, ``empty_query``,
``absurd_timestamp``, ``unknown_product``.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from schemas.errors import InvalidEvent

__all__ = [
    "EVENT_TYPES",
    "MAX_EVENT_BYTES",
    "MAX_QUERY_CHARS",
    "MAX_TS_MS",
    "MAX_USER_ID",
    "MIN_TS_MS",
    "CartAdd",
    "Checkout",
    "Event",
    "Search",
    "decode",
    "encode",
    "from_dict",
    "to_dict",
]

MAX_EVENT_BYTES = 16 * 1024
"""Payloads larger than this are rejected before parsing (``oversized``)."""
MAX_QUERY_CHARS = 200
MAX_ID_CHARS = 128
MAX_USER_ID = 2**63 - 1
"""The largest user id anywhere (a signed 64-bit int): intake rejects a larger one as
``bad_value`` and serving (:func:`stream_app.serving.parse_user_id`) refuses to look it up, so an
accepted event's user can always be read back."""
MIN_TS_MS = 946_684_800_000
"""2000-01-01T00:00:00Z: anything earlier is an ``absurd_timestamp`` (seconds sent as ms, 0...)."""
MAX_TS_MS = 4_102_444_800_000
"""2100-01-01T00:00:00Z: anything later is an ``absurd_timestamp`` (microseconds sent as ms...)."""


@dataclass(frozen=True, slots=True)
class CartAdd:
    """A product added to the shopper's cart."""

    event_id: str
    user_id: int
    product_id: int
    ts: int
    order_id: int | None = None
    type: Literal["cart_add"] = "cart_add"


@dataclass(frozen=True, slots=True)
class Search:
    """A search typed by the shopper (``synthetic`` when made up by a converter)."""

    event_id: str
    user_id: int
    query: str
    ts: int
    synthetic: bool = False
    type: Literal["search"] = "search"


@dataclass(frozen=True, slots=True)
class Checkout:
    """An order placed: closes the current basket."""

    event_id: str
    user_id: int
    ts: int
    order_id: int | None = None
    type: Literal["checkout"] = "checkout"


Event = CartAdd | Search | Checkout
EVENT_TYPES: dict[str, type[CartAdd] | type[Search] | type[Checkout]] = {
    "cart_add": CartAdd,
    "search": Search,
    "checkout": Checkout,
}


def _required(obj: dict[str, Any], name: str) -> Any:
    if name not in obj or obj[name] is None:
        raise InvalidEvent("missing_field", f"field {name!r} is required")
    return obj[name]


def _int(obj: dict[str, Any], name: str, *, required: bool = True) -> int | None:
    if not required and obj.get(name) is None:
        return None
    value = _required(obj, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidEvent("wrong_type", f"field {name!r} must be an integer, got {value!r}"[:200])
    if value <= 0:
        raise InvalidEvent("bad_value", f"field {name!r} must be positive, got {value}")
    return value


def _str(obj: dict[str, Any], name: str, limit: int) -> str:
    value = _required(obj, name)
    if not isinstance(value, str):
        raise InvalidEvent("wrong_type", f"field {name!r} must be a string, got {value!r}"[:200])
    if len(value) > limit:
        raise InvalidEvent("bad_value", f"field {name!r} is longer than {limit} characters")
    return value


def _ts(obj: dict[str, Any]) -> int:
    ts = _int(obj, "ts")
    assert ts is not None
    if not MIN_TS_MS <= ts < MAX_TS_MS:
        raise InvalidEvent(
            "absurd_timestamp", f"ts={ts} is not epoch milliseconds between 2000 and 2100"
        )
    return ts


def from_dict(obj: Any, known_products: Container[int] | None = None) -> Event:
    """Validate a parsed JSON value and build the event it describes.

    ``known_products``, when given, makes a ``cart_add`` for a product outside it an
    ``unknown_product`` error.

    >>> e = from_dict({"type": "search", "event_id": "e1", "user_id": 7, "query": " yogurt ",
    ...                "ts": 1_500_000_000_000})
    >>> e.query, e.ts, e.synthetic
    ('yogurt', 1500000000000, False)
    >>> from_dict({"type": "cart_add", "event_id": "e2", "user_id": 7, "ts": 1_500_000_000_000})
    Traceback (most recent call last):
    ...
    schemas.errors.InvalidEvent: missing_field: field 'product_id' is required
    """
    if not isinstance(obj, dict):
        raise InvalidEvent("not_an_object", f"an event is a JSON object, got {type(obj).__name__}")
    kind = obj.get("type")
    if kind not in EVENT_TYPES:
        raise InvalidEvent(
            "unknown_type", f"'type' must be one of {sorted(EVENT_TYPES)}, got {kind!r}"[:200]
        )
    event_id = _str(obj, "event_id", MAX_ID_CHARS)
    if not event_id:
        raise InvalidEvent("bad_value", "field 'event_id' is empty")
    user_id = _int(obj, "user_id")
    assert user_id is not None
    if user_id > MAX_USER_ID:
        raise InvalidEvent(
            "bad_value", f"field 'user_id' must be at most {MAX_USER_ID}, got {user_id}"
        )
    ts = _ts(obj)
    if kind == "cart_add":
        product_id = _int(obj, "product_id")
        assert product_id is not None
        if known_products is not None and product_id not in known_products:
            raise InvalidEvent("unknown_product", f"product_id {product_id} is not in the catalog")
        return CartAdd(event_id, user_id, product_id, ts, _int(obj, "order_id", required=False))
    if kind == "search":
        query = _str(obj, "query", MAX_QUERY_CHARS).strip()
        if not query:
            raise InvalidEvent("empty_query", "field 'query' is empty")
        synthetic = obj.get("synthetic", False)
        if not isinstance(synthetic, bool):
            raise InvalidEvent("wrong_type", "field 'synthetic' must be a boolean")
        return Search(event_id, user_id, query, ts, synthetic)
    return Checkout(event_id, user_id, ts, _int(obj, "order_id", required=False))


def decode(
    raw: bytes,
    known_products: Container[int] | None = None,
    max_bytes: int = MAX_EVENT_BYTES,
) -> Event:
    """Parse and validate one JSON-encoded event; raise :class:`InvalidEvent` with the reason.

    >>> decode(b'{"type":"checkout","event_id":"e3","user_id":7,"ts":1500000000000}')
    Checkout(event_id='e3', user_id=7, ts=1500000000000, order_id=None, type='checkout')
    >>> decode(b'{"type":"checkout"')
    Traceback (most recent call last):
    ...
    schemas.errors.InvalidEvent: malformed_json: unexpected end of data: line 1 column 19 (char 18)
    """
    if len(raw) > max_bytes:
        raise InvalidEvent("oversized", f"payload is {len(raw)} bytes, the limit is {max_bytes}")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent("malformed_json", str(exc)) from exc
    return from_dict(obj, known_products)


def to_dict(event: Event) -> dict[str, Any]:
    """The JSON object of an event (optional fields left out when unset).

    >>> to_dict(CartAdd("e1", 7, 196, 1_500_000_000_000))
    {'type': 'cart_add', 'event_id': 'e1', 'user_id': 7, 'product_id': 196, 'ts': 1500000000000}
    """
    out: dict[str, Any] = {"type": event.type, "event_id": event.event_id, "user_id": event.user_id}
    if isinstance(event, CartAdd):
        out["product_id"] = event.product_id
    elif isinstance(event, Search):
        out["query"] = event.query
    out["ts"] = event.ts
    if isinstance(event, Search):
        if event.synthetic:
            out["synthetic"] = True
    elif event.order_id is not None:
        out["order_id"] = event.order_id
    return out


def encode(event: Event) -> bytes:
    """Serialise an event to compact JSON bytes; ``decode(encode(e)) == e``.

    >>> e = Search("e9", 3, "oat milk", 1_500_000_000_000, synthetic=True)
    >>> decode(encode(e)) == e
    True
    """
    return orjson.dumps(to_dict(event))
