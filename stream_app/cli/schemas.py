"""`stream-app schemas export --out DIR`: JSON Schema files of the event and output contracts."""

from __future__ import annotations

import argparse
from pathlib import Path

import orjson

from schemas.jsonschema import all_schemas
from stream_app.cli._outputs import CREATES_PARENTS, check_output_dir
from stream_app.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `schemas` subcommand."""
    p = sub.add_parser(
        "schemas",
        help="export JSON Schema of the events and the Redis value",
        description=(
            "Write JSON Schema (draft 2020-12) files for the three shopper events "
            "(cart_add, search, checkout), any event, and the recommendation value "
            "stored in Redis, so producers and readers can validate against them."
        ),
    )
    verbs = p.add_subparsers(dest="schemas_command", metavar="VERB", required=True)
    export = verbs.add_parser("export", help="write the schema files to a folder")
    export.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help=f"folder to write into ({CREATES_PARENTS})",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Write every schema as ``DIR/<name>.schema.json``."""
    out: Path = args.out
    check_output_dir(out, "--out")
    out.mkdir(parents=True, exist_ok=True)
    for name, schema in all_schemas().items():
        path = out / name
        path.write_bytes(orjson.dumps(schema, option=orjson.OPT_INDENT_2) + b"\n")
        print(f"wrote {path}")
    return 0
