"""``stream-app``: one entry point, one subcommand module per verb under ``stream_app.cli``.

Each command module exposes ``register(subparsers)`` which adds its parser and sets
``func=run`` where ``run(args, settings) -> int`` (the exit code). Project errors
(:class:`schemas.errors.StreamAppError`) become a one-line message and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from schemas.errors import StreamAppError
from stream_app.settings import Settings

__all__ = ["COMMANDS", "build_parser", "main"]

COMMANDS = (
    "services",
    "build",
    "worker",
    "serve",
    "import_instacart",
    "replay",
    "record",
    "get",
    "eval",
    "train",
    "demo",
    "chaos",
    "bench",
    "scale",
    "schemas",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="stream-app",
        description=(
            "Streaming context-aware grocery recommendations: shopper events from Kafka, "
            "per-user state in Faust tables, a top-K kept fresh in Redis. "
            "Settings come from STREAM_APP_* environment variables (see README)."
        ),
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"stream_app.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        return int(args.func(args, settings) or 0)
    except StreamAppError as exc:
        print(f"stream-app {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"stream-app {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`stream-app ... | head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
