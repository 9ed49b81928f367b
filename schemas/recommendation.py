"""The recommendation value: what the worker writes to Redis and the serving layer reads.

Redis keys (prefix configurable, default ``reco``), one answer per user and *surface* (the
surfaces are declared in ``scorers/surfaces.toml``):

* ``reco:{user_id}`` — the user's answer of the ``default`` surface (the blended answer every
  reader got before surfaces existed);
* ``reco:{user_id}:{surface}`` — the user's answer of any other surface, e.g. ``reco:7:basket``;
* ``reco:fallback`` — the global fallback (popular items) for users with no answer yet, of any
  surface: a read of ``reco:7:basket`` falls back to it as a read of ``reco:7`` does.

Every key is written on its own (the worker's fenced ``SET`` script touches one key), so on a
Redis Cluster each command touches one hash slot and the scheme needs no hash tags.

The value is compact JSON (orjson), items as ``[product_id, score, reason]`` triples so that a
top-10 with reasons stays under 1 KB::

    {"user_id": 7, "items": [[196, 0.9312, "bought 7 times, usually every 9 days"], ...],
     "model": "linear-v1", "source": "stream", "updated_at": 1700000000123,
     "event_ts": 1500000000000, "seq": 48213}

``source`` is ``stream`` (rescored after an event or by the decay timer), ``batch`` (seeded by
``stream-app build`` before any event) or ``fallback``. ``updated_at`` is wall-clock epoch ms of
the write; ``event_ts`` is the ``ts`` of the last event the answer reflects (``0`` for none).
``surface`` is stored only for a surface other than ``default`` (so a default answer's bytes are
what they were before surfaces); it reads as ``default`` when missing. ``seq`` tells apart two
answers with the same ``event_ts``: how far into its source partitions the worker had read the
user's events (it grows with every message folded, late ones included; ``0`` outside the
worker). Older values without it read as ``0``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from schemas.errors import InvalidData

__all__ = ["DEFAULT_SURFACE", "FALLBACK_KEY_SUFFIX", "RecoItem", "Recommendation", "reco_key"]

FALLBACK_KEY_SUFFIX = "fallback"
DEFAULT_SURFACE = "default"


def reco_key(user_id: int | None, prefix: str = "reco", surface: str = DEFAULT_SURFACE) -> str:
    """The Redis key of a user's answer of ``surface``, or of the fallback when ``user_id`` is
    None (one fallback for every surface).

    >>> reco_key(7), reco_key(7, surface="basket"), reco_key(None), reco_key(None, "r", "basket")
    ('reco:7', 'reco:7:basket', 'reco:fallback', 'r:fallback')
    """
    if user_id is None:
        return f"{prefix}:{FALLBACK_KEY_SUFFIX}"
    if surface == DEFAULT_SURFACE:
        return f"{prefix}:{user_id}"
    return f"{prefix}:{user_id}:{surface}"


class RecoItem(NamedTuple):
    """One recommended product with its score and a short human reason (a named triple, as
    stored: built about ten times per rescore, so it is a tuple rather than a dataclass)."""

    product_id: int
    score: float
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Recommendation:
    """A ranked top-K answer for one user (``user_id`` None for the global fallback)."""

    user_id: int | None
    items: tuple[RecoItem, ...]
    model: str
    source: str = "stream"
    updated_at: int = 0
    event_ts: int = 0
    seq: int = field(default=0, kw_only=True)
    """Breaks ``event_ts`` ties in the worker's fenced writes (see the module docstring)."""
    surface: str = field(default=DEFAULT_SURFACE, kw_only=True)
    """Which surface's answer this is (its Redis key, :func:`reco_key`)."""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object stored in Redis (``surface`` only when not the default)."""
        out = {
            "user_id": self.user_id,
            "items": [[i.product_id, round(float(i.score), 4), i.reason] for i in self.items],
            "model": self.model,
            "source": self.source,
            "updated_at": self.updated_at,
            "event_ts": self.event_ts,
            "seq": self.seq,
        }
        if self.surface != DEFAULT_SURFACE:
            out["surface"] = self.surface
        return out

    def to_bytes(self) -> bytes:
        """Compact JSON bytes of :meth:`to_dict`.

        >>> r = Recommendation(7, (RecoItem(196, 0.5, "bought 3 times"),), "linear-v1")
        >>> Recommendation.from_bytes(r.to_bytes()) == r
        True
        >>> from dataclasses import replace
        >>> b = replace(r, surface="basket")
        >>> Recommendation.from_bytes(b.to_bytes()) == b, b"surface" in r.to_bytes()
        (True, False)
        """
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, obj: Any) -> Recommendation:
        """Build from the stored JSON object; :class:`InvalidData` when it is not one."""
        try:
            items = tuple(RecoItem(int(p), float(s), str(r)) for p, s, r in obj["items"])
            return cls(
                user_id=None if obj["user_id"] is None else int(obj["user_id"]),
                items=items,
                model=str(obj["model"]),
                source=str(obj.get("source", "stream")),
                updated_at=int(obj.get("updated_at", 0)),
                event_ts=int(obj.get("event_ts", 0)),
                seq=int(obj.get("seq", 0)),
                surface=str(obj.get("surface", DEFAULT_SURFACE)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidData(f"not a recommendation value: {exc!r}") from exc

    @classmethod
    def from_bytes(cls, raw: bytes) -> Recommendation:
        """Parse stored bytes; :class:`InvalidData` when they are not a recommendation."""
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidData(f"recommendation is not JSON: {exc}") from exc
        return cls.from_dict(obj)
