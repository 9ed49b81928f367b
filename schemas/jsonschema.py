"""JSON Schema (draft 2020-12) of the event contracts and the recommendation value, for producers.

Built from the same constants :func:`schemas.events.decode` enforces, so the two cannot drift
apart silently (a unit test checks that every required field is one ``decode`` requires).
Pure: returns dicts; ``stream-app schemas export --out DIR`` writes them as files.

>>> s = event_schema("cart_add")
>>> s["required"]
['type', 'event_id', 'user_id', 'product_id', 'ts']
>>> sorted(all_schemas())  # doctest: +NORMALIZE_WHITESPACE
['cart_add.schema.json', 'checkout.schema.json', 'event.schema.json',
 'recommendation.schema.json', 'search.schema.json']
"""

from __future__ import annotations

from typing import Any

from schemas.events import (
    EVENT_TYPES,
    MAX_EVENT_BYTES,
    MAX_ID_CHARS,
    MAX_QUERY_CHARS,
    MAX_TS_MS,
    MAX_USER_ID,
    MIN_TS_MS,
)

__all__ = ["BASE_ID", "all_schemas", "event_schema", "recommendation_schema"]

DRAFT = "https://json-schema.org/draft/2020-12/schema"
BASE_ID = "https://stream-app.local/schemas/"

_ID = {"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS}
_POSITIVE = {"type": "integer", "minimum": 1}
_USER_ID = {"type": "integer", "minimum": 1, "maximum": MAX_USER_ID}
_OPTIONAL_POSITIVE = {"type": ["integer", "null"], "minimum": 1}
_TS = {
    "type": "integer",
    "minimum": MIN_TS_MS,
    "exclusiveMaximum": MAX_TS_MS,
    "description": "event time, epoch milliseconds (between 2000 and 2100)",
}

_FIELDS: dict[str, tuple[dict[str, dict[str, Any]], list[str]]] = {
    "cart_add": (
        {
            "event_id": _ID,
            "user_id": _USER_ID,
            "product_id": {**_POSITIVE, "description": "must exist in the catalog"},
            "ts": _TS,
            "order_id": _OPTIONAL_POSITIVE,
        },
        ["event_id", "user_id", "product_id", "ts"],
    ),
    "search": (
        {
            "event_id": _ID,
            "user_id": _USER_ID,
            "query": {
                "type": "string",
                "maxLength": MAX_QUERY_CHARS,
                "pattern": "\\S",
                "description": "what the shopper typed; not empty after trimming",
            },
            "ts": _TS,
            "synthetic": {
                "type": "boolean",
                "default": False,
                "description": "true when made up by a converter, never by a real shopper",
            },
        },
        ["event_id", "user_id", "query", "ts"],
    ),
    "checkout": (
        {"event_id": _ID, "user_id": _USER_ID, "ts": _TS, "order_id": _OPTIONAL_POSITIVE},
        ["event_id", "user_id", "ts"],
    ),
}

_TOPICS = {"cart_add": "cart-adds", "search": "searches", "checkout": "checkouts"}


def event_schema(kind: str) -> dict[str, Any]:
    """The schema of one event type (``cart_add``, ``search`` or ``checkout``)."""
    if kind not in EVENT_TYPES:
        raise KeyError(kind)
    props, required = _FIELDS[kind]
    return {
        "$schema": DRAFT,
        "$id": f"{BASE_ID}{kind}.schema.json",
        "title": kind,
        "description": (
            f"{EVENT_TYPES[kind].__doc__} Published to the '{_TOPICS[kind]}' topic (name "
            f"configurable), keyed by str(user_id), UTF-8 JSON of at most {MAX_EVENT_BYTES} "
            "bytes. Unknown extra fields are ignored. Integer fields must be JSON integer "
            "literals (7, not 7.0), which JSON Schema's 'integer' type alone does not enforce."
        ),
        "type": "object",
        "properties": {"type": {"const": kind}, **props},
        "required": ["type", *required],
        "additionalProperties": True,
    }


def recommendation_schema() -> dict[str, Any]:
    """The schema of the value stored under ``reco:{user_id}[:{surface}]`` and
    ``reco:fallback``."""
    return {
        "$schema": DRAFT,
        "$id": f"{BASE_ID}recommendation.schema.json",
        "title": "recommendation",
        "description": (
            "A user's current top-K of one surface (user_id null for the global fallback), "
            "stored in Redis under '{prefix}:{user_id}' (the default surface), "
            "'{prefix}:{user_id}:{surface}' (any other) or '{prefix}:fallback' (prefix default "
            "'reco')."
        ),
        "type": "object",
        "properties": {
            "user_id": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_USER_ID},
            "items": {
                "type": "array",
                "description": "best first; each item is [product_id, score, reason]",
                "items": {
                    "type": "array",
                    "prefixItems": [
                        {"type": "integer", "minimum": 1},
                        {"type": "number"},
                        {"type": "string"},
                    ],
                    "minItems": 3,
                    "maxItems": 3,
                },
            },
            "model": {"type": "string"},
            "source": {"enum": ["stream", "batch", "fallback"]},
            "updated_at": {
                "type": "integer",
                "minimum": 0,
                "description": "wall-clock epoch ms of the write",
            },
            "event_ts": {
                "type": "integer",
                "minimum": 0,
                "description": "ts of the last event the answer reflects (0 for none)",
            },
            "seq": {
                "type": "integer",
                "minimum": 0,
                "description": (
                    "how far into its source partitions the worker had read the user's events "
                    "(breaks event_ts ties between writers; 0 outside the worker, absent in "
                    "older values)"
                ),
            },
            "surface": {
                "type": "string",
                "pattern": "^[a-z][a-z0-9_]{0,31}$",
                "description": "the surface, for any but the default one (absent: default)",
            },
        },
        "required": ["user_id", "items", "model", "source", "updated_at", "event_ts"],
    }


def all_schemas() -> dict[str, dict[str, Any]]:
    """Every schema by file name, plus ``event.schema.json`` (any of the three events)."""
    out = {f"{kind}.schema.json": event_schema(kind) for kind in EVENT_TYPES}
    out["event.schema.json"] = {
        "$schema": DRAFT,
        "$id": f"{BASE_ID}event.schema.json",
        "title": "event",
        "description": "Any shopper event, as found in a recorded event log (JSON lines).",
        "oneOf": [{"$ref": f"{kind}.schema.json"} for kind in EVENT_TYPES],
    }
    out["recommendation.schema.json"] = recommendation_schema()
    return out
