"""Contracts shared by every package: events, recommendation values, the error tree.

Imports nothing of ours and no I/O library.
"""

from schemas.errors import (
    ConfigError,
    InvalidData,
    InvalidEvent,
    ServiceError,
    SinkError,
    StreamAppError,
)
from schemas.events import (
    EVENT_TYPES,
    MAX_EVENT_BYTES,
    CartAdd,
    Checkout,
    Event,
    Search,
    decode,
    encode,
    from_dict,
    to_dict,
)
from schemas.recommendation import RecoItem, Recommendation, reco_key

__all__ = [
    "EVENT_TYPES",
    "MAX_EVENT_BYTES",
    "CartAdd",
    "Checkout",
    "ConfigError",
    "Event",
    "InvalidData",
    "InvalidEvent",
    "RecoItem",
    "Recommendation",
    "Search",
    "ServiceError",
    "SinkError",
    "StreamAppError",
    "decode",
    "encode",
    "from_dict",
    "reco_key",
    "to_dict",
]
