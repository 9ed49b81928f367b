"""The project's exception tree, shared by every package.

::

    StreamAppError                 base of everything this project raises on purpose
    ├── InvalidEvent               an event that cannot be accepted (bad JSON, missing field,
    │                              wrong type, unknown product, absurd timestamp, too large)
    ├── InvalidData                a batch input file (orders CSV, catalog, event log, model
    │                              file) that does not have the expected format
    ├── ConfigError                a setting that cannot be used
    ├── ServiceError               a local service (Kafka, Redis) could not be started or reached
    └── SinkError                  a write to an output (Redis) failed

Core code (``schemas``, ``features``, ``scorers``) raises only these; ``stream_app`` translates
foreign exceptions (redis, kafka, aiokafka) into them at the edge with ``raise ... from exc``.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "InvalidData",
    "InvalidEvent",
    "ServiceError",
    "SinkError",
    "StreamAppError",
]


class StreamAppError(Exception):
    """Base class of every error this project raises on purpose."""


class InvalidEvent(StreamAppError):
    """An event that cannot be accepted; ``reason`` is a short machine-friendly code.

    >>> err = InvalidEvent("missing_field", "field 'user_id' is required")
    >>> err.reason, str(err)
    ('missing_field', "missing_field: field 'user_id' is required")
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class InvalidData(StreamAppError):
    """A batch input (CSV, event log, model file) with the wrong format; says where."""


class ConfigError(StreamAppError):
    """A setting that cannot be used."""


class ServiceError(StreamAppError):
    """A local service could not be started, reached or stopped."""


class SinkError(StreamAppError):
    """A write to an output store failed."""
