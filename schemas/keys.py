"""The Kafka key contract: every input record and table entry of a shopper is keyed by the
decimal user id as bytes, so the producers' partitioner puts a shopper's events of all three
topics, and their table entry, in the same partition number."""

from __future__ import annotations

__all__ = ["user_key"]


def user_key(user_id: int) -> bytes:
    """The Kafka/table key of a user: ``str(user_id)`` as bytes (what producers must use).

    >>> user_key(42)
    b'42'
    """
    return str(user_id).encode()
