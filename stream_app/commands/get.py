"""`stream-app get USER [--json]`: print a user's current recommendations from Redis."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import orjson

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


def render(body: dict) -> str:
    """Human-readable text of a served answer (``Served.to_dict`` with names)."""
    who = "fallback (no answer of their own yet)" if body["fallback"] else body["source"]
    lines = [
        f"user {body['user_id']}: {who}, model {body['model']}, "
        f"updated {body['age_ms'] / 1000:.1f}s ago, reflects events up to ts={body['event_ts']}"
    ]
    for rank, item in enumerate(body["items"], start=1):
        name = item.get("name") or f"product {item['product_id']}"
        lines.append(
            f"{rank:>3}. {name}  [{item['product_id']}, {item['score']:.3f}]  {item['reason']}"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Read one answer and print it."""
    from stream_app.serving import Reader, parse_user_id

    user = parse_user_id(args.user)
    reader = Reader.from_url(settings.redis_url, settings.reco_prefix)
    try:
        served = reader.get(user)
    finally:
        reader.close()
    body = served.to_dict(names=product_names(settings))
    if args.json:
        print(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
    else:
        print(render(body))
    return 0
