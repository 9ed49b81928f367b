"""`stream-app services up | down | status`: the local Kafka + Redis stack."""

from __future__ import annotations

import argparse

from stream_app.settings import Settings
from stream_app.stack import services_down, services_status, services_up

HELP = """\
up      start Kafka (single-node KRaft, jars from Maven Central cached in ~/.cache/stream-app)
        and Redis unless healthy ones already answer at STREAM_APP_KAFKA_BOOTSTRAP /
        STREAM_APP_REDIS_URL, wait until both answer, and create the input topics with
        STREAM_APP_PARTITIONS partitions. Idempotent.
down    stop the Kafka and Redis that `up` started (pid files under STREAM_APP_STATE_DIR);
        never anything else. --purge also deletes their data and logs.
status  say what runs where, and the input topics' partition counts.

--redis-cluster (with `up`; implied by STREAM_APP_REDIS_URL=redis+cluster://HOST:PORT): instead
        of one Redis, a local three-master Redis Cluster on PORT, PORT+1 and PORT+2 (no
        replicas). `down` and `status` handle it too.
"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `services` subcommand."""
    p = sub.add_parser(
        "services",
        help="start, stop or inspect the local Kafka + Redis stack",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("action", choices=["up", "down", "status"], help="what to do")
    p.add_argument(
        "--no-topics", action="store_true", help="with `up`: do not create the input topics"
    )
    p.add_argument(
        "--purge",
        action="store_true",
        help="with `down`: also delete the stopped services' data and logs under the state dir",
    )
    p.add_argument(
        "--redis-cluster",
        action="store_true",
        help="with `up`: start a local three-master Redis Cluster instead of one Redis",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run `services ACTION`; `status` exits 1 when Kafka or Redis does not answer."""
    if args.action == "up":
        services_up(settings, topics=not args.no_topics, redis_cluster=args.redis_cluster)
        return 0
    if args.action == "down":
        services_down(settings, purge=args.purge)
        return 0
    reports = services_status(settings)
    return 0 if all(r.answering for r in reports) else 1
