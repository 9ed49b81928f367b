"""`stream-app import-instacart` (not implemented yet)."""

from __future__ import annotations

import argparse

from schemas.errors import StreamAppError
from stream_app.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `import-instacart` subcommand."""
    p = sub.add_parser("import-instacart", help="(not implemented yet)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Not implemented yet."""
    raise StreamAppError("'import-instacart' is not implemented yet")
