"""`stream-app get USER [--surface S] [--json]`: print a user's current recommendations from
Redis."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime

import orjson

from stream_app.serving.reader import unreachable
from stream_app.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `get` subcommand."""
    p = sub.add_parser(
        "get",
        help="print a user's current recommendations (or the fallback)",
        description=(
            "Read the user's answer from Redis (or the global fallback for an unknown user) in "
            "one round trip and print it with product names, reasons, source and age."
        ),
    )
    p.add_argument("user", metavar="USER", help="user id")
    p.add_argument(
        "--surface",
        default="default",
        metavar="S",
        help="which surface's answer (declared in scorers/surfaces.toml or "
        "STREAM_APP_SURFACES_PATH; default: default, the answer at reco:USER)",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def product_names(settings: Settings) -> Callable[[int], str]:
    """Product names from the artifacts' catalog ('' when no artifacts are built)."""
    from schemas.errors import InvalidData
    from scorers import Artifacts

    try:
        return Artifacts.load(settings.artifacts_dir).name_of
    except InvalidData:
        return lambda _pid: ""


def utc_time(ts_ms: int) -> str:
    """An event time (epoch ms) as a UTC date-time; 0 means the answer reflects no event.

    >>> utc_time(1510657740000)
    '2017-11-14 11:09:00 UTC'
    >>> utc_time(0)
    'no events yet'
    """
    if ts_ms <= 0:
        return "no events yet"
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def render(body: dict) -> str:
    """Human-readable text of a served answer (``Served.to_dict`` with names).

    >>> print(render({"user_id": 7, "fallback": True, "source": "fallback", "model": "m",
    ...               "age_ms": 1500, "event_ts": 0,
    ...               "items": [{"product_id": 24852, "score": 1.0, "reason": "popular right now",
    ...                          "name": "Banana"}]}))
    user 7: fallback (no answer of their own yet), model m, updated 1.5s ago, reflects no events yet
      1. Banana  [24852, 1.000]  popular right now
    """
    who = "fallback (no answer of their own yet)" if body["fallback"] else body["source"]
    if body.get("surface", "default") != "default":
        who = f"surface {body['surface']}, {who}"
    ts = body["event_ts"]
    seen = "reflects no events yet" if ts <= 0 else f"reflects events up to {utc_time(ts)}"
    lines = [
        f"user {body['user_id']}: {who}, model {body['model']}, "
        f"updated {body['age_ms'] / 1000:.1f}s ago, {seen}"
    ]
    for rank, item in enumerate(body["items"], start=1):
        name = item.get("name") or f"product {item['product_id']}"
        lines.append(
            f"{rank:>3}. {name}  [{item['product_id']}, {item['score']:.3f}]  {item['reason']}"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Read one answer and print it."""
    from redis.exceptions import RedisError

    from schemas.errors import ConfigError, ServiceError
    from stream_app.serving import Reader, parse_user_id
    from stream_app.serving.reader import surface_names

    user = parse_user_id(args.user)
    known = surface_names(settings.surfaces_path)
    if args.surface not in known:
        raise ConfigError(
            f"unknown surface {args.surface!r}; known: {', '.join(sorted(known))} "
            "(--surface, declared in scorers/surfaces.toml or STREAM_APP_SURFACES_PATH)"
        )
    reader = Reader.from_url(settings.redis_url, settings.reco_prefix, known)
    try:
        served = reader.get(user, args.surface)
    except ServiceError as exc:
        cause = exc.__cause__
        if isinstance(cause, (RedisError, OSError)):  # not reached, as opposed to no answer
            raise ServiceError(unreachable(settings.redis_url, cause)) from cause
        raise
    finally:
        reader.close()
    body = served.to_dict(names=product_names(settings))
    if args.json:
        print(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
    else:
        print(render(body))
    return 0
