"""`stream-app demo` (not implemented yet)."""

from __future__ import annotations

import argparse

from schemas.errors import StreamAppError
from stream_app.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `demo` subcommand."""
    p = sub.add_parser("demo", help="(not implemented yet)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Not implemented yet."""
    raise StreamAppError("'demo' is not implemented yet")
