"""`stream-app worker`: run the Faust worker that keeps every shopper's answer fresh in Redis."""

from __future__ import annotations

import argparse
import socket
from dataclasses import replace

from schemas.errors import ConfigError, InvalidData
from stream_app.cli._numbers import port
from stream_app.settings import Settings

DESCRIPTION = """\
Consume the cart-adds, searches and checkouts topics, keep each shopper's state in a
changelog-backed Faust table, rescore touched shoppers once per batch and write their top-K to
Redis (one pipelined round trip per batch). Serves GET /recommendations/{user_id} on
--web-port. Needs `stream-app build` first (artifacts in STREAM_APP_ARTIFACTS_DIR).

Several workers: start more processes with the same STREAM_APP_APP_ID (the consumer group) and
a different --web-port each; Kafka spreads the partitions (STREAM_APP_PARTITIONS, default 8)
over them and Faust moves the table state with the partitions."""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `worker` subcommand."""
    p = sub.add_parser(
        "worker",
        help="run the streaming worker (Faust) with its web endpoint",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--web-port", type=port, help="HTTP port (default STREAM_APP_WEB_PORT)")
    p.add_argument("--loglevel", help="log level (default STREAM_APP_LOG_LEVEL)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Ensure the topics exist, load the artifacts, run the worker until stopped."""
    import faust

    from scorers import Artifacts, LinearModel
    from stream_app.stack import provision_topics
    from stream_app.worker.app import create_app
    from stream_app.worker.kafkalog import install_offset_reset_alarm

    if args.web_port:
        settings = replace(settings, web_port=args.web_port)
    with socket.socket() as sock:
        if sock.connect_ex((settings.web_host, settings.web_port)) == 0:
            raise ConfigError(
                f"port {settings.web_port} on {settings.web_host} is taken (another worker?); "
                "use --web-port or STREAM_APP_WEB_PORT"
            )
    try:  # before Kafka: a worker without artifacts should say so at once
        artifacts = Artifacts.load(settings.artifacts_dir)
    except InvalidData as exc:
        raise InvalidData(
            f"{exc} (STREAM_APP_ARTIFACTS_DIR); run `stream-app build` first"
        ) from exc
    provision_topics(settings)
    if settings.model_path is not None:
        artifacts = artifacts.with_model(LinearModel.load(settings.model_path))
    app = create_app(settings, artifacts=artifacts)
    loglevel = args.loglevel or settings.log_level
    install_offset_reset_alarm(loglevel)  # records deleted under the worker: say so at WARNING
    worker = faust.Worker(app, loglevel=loglevel)
    worker.execute_from_commandline()
    return 0
