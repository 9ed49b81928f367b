"""`stream-app serve`: the read side as a process of its own (HTTP over Redis, nothing else)."""

from __future__ import annotations

import argparse
import socket
from dataclasses import replace

from schemas.errors import ConfigError, InvalidData
from stream_app.cli._numbers import port
from stream_app.settings import Settings

DESCRIPTION = """\
Serve GET /recommendations/{user_id}[?surface=S] (and GET /healthz) from Redis: the shopper's
answer (of surface S, default: the default surface), or the fallback for a shopper with none
yet, with product names, reasons and age. Each request is
one Redis round trip and nothing else, so run as many of these as the read load needs, beside
the workers; their latency does not wait on a worker's batches (a worker serves the same
endpoint on its own --web-port, sharing its event loop with scoring). Needs the artifacts of
`stream-app build` for product names (STREAM_APP_ARTIFACTS_DIR)."""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `serve` subcommand."""
    p = sub.add_parser(
        "serve",
        help="serve GET /recommendations/{user_id} from Redis (no worker needed)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--port", type=port, help="HTTP port (default STREAM_APP_WEB_PORT)")
    p.add_argument("--host", help="address to bind (default STREAM_APP_WEB_HOST)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Load the product names, serve until interrupted."""
    from aiohttp import web as aioweb

    from scorers import Artifacts
    from stream_app.serving import AsyncReader
    from stream_app.serving.http import serving_app

    settings = replace(
        settings,
        web_port=args.port or settings.web_port,
        web_host=args.host or settings.web_host,
    )
    with socket.socket() as sock:
        if sock.connect_ex((settings.web_host, settings.web_port)) == 0:
            raise ConfigError(
                f"port {settings.web_port} on {settings.web_host} is taken; use --port"
            )
    try:
        names = Artifacts.load(settings.artifacts_dir).name_of
    except InvalidData as exc:
        raise InvalidData(
            f"{exc} (STREAM_APP_ARTIFACTS_DIR); run `stream-app build` first"
        ) from exc
    from stream_app.serving.reader import surface_names

    reader = AsyncReader.from_url(
        settings.redis_url, settings.reco_prefix, surface_names(settings.surfaces_path)
    )
    print(
        f"serving http://{settings.web_host}:{settings.web_port}/recommendations/{{user_id}} "
        f"from {settings.redis_url} (prefix {settings.reco_prefix!r})",
        flush=True,
    )
    aioweb.run_app(
        serving_app(reader, names),
        host=settings.web_host,
        port=settings.web_port,
        access_log=None,
        print=None,
    )
    return 0
