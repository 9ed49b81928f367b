"""`stream-app services` (not implemented yet)."""

from __future__ import annotations

import argparse

from schemas.errors import StreamAppError
from stream_app.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `services` subcommand."""
    p = sub.add_parser("services", help="(not implemented yet)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Not implemented yet."""
    raise StreamAppError("'services' is not implemented yet")
