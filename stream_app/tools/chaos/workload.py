"""What a chaos run replays and what the answers must be: events, artifacts and the offline twin.

One build per run (from each shopper's orders before their last ``last_orders``), shared by
every scenario; each scenario then gets settings of its own (:func:`run_settings`: app id,
topics, Redis key prefix) and seeds that prefix the way ``stream-app build`` does
(:func:`seed_answers`), so scenarios never see each other's answers or offsets.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from schemas.errors import ConfigError
from schemas.events import Event
from schemas.recommendation import Recommendation
from scorers import Artifacts
from stream_app.settings import Settings

__all__ = ["Workload", "load_workload", "run_settings", "seed_answers"]


@dataclass(frozen=True)
class Workload:
    """The events of the shoppers' last orders, and the artifacts built from what came before."""

    artifacts: Artifacts
    artifacts_dir: Path
    events: list[Event]
    users: list[int]

    def twin(self, events: Iterable[Event], settings: Settings) -> dict[int, Recommendation]:
        """The offline answer of every shopper in ``events``: what the worker must leave."""
        from stream_app.worker.pipeline import feature_config, replay_offline

        config = feature_config(self.artifacts, settings.session_gap_ms)
        return replay_offline(events, self.artifacts, config=config, k=settings.k)


def load_workload(
    orders_path: Path,
    catalog_dir: Path,
    out_dir: Path,
    *,
    last_orders: int,
    users: int | None = None,
    search_rate: float = 0.2,
    seed: int = 0,
) -> Workload:
    """Read the Instacart files, keep ``users`` shoppers (a seeded sample; all by default),
    build the artifacts from their history into ``out_dir`` and make the events of their last
    ``last_orders`` orders (synthetic searches before ``search_rate`` of the cart adds)."""
    from loaders.catalog import load_catalog
    from loaders.instacart import read_orders, split_test_orders
    from scorers import build_artifacts
    from stream_app.tools.replay import recent_events

    catalog = load_catalog(catalog_dir)
    orders = read_orders(orders_path)
    everyone = sorted({o.user_id for o in orders})
    if users is not None and users < len(everyone):
        chosen = set(random.Random(seed).sample(everyone, users))
        orders = [o for o in orders if o.user_id in chosen]
    history, recent = split_test_orders(orders, last_orders)
    if not history or not recent:
        raise ConfigError(
            f"{orders_path}: no shopper has more than {last_orders} orders to build from "
            "(lower --last-orders)"
        )
    build_artifacts(history, catalog).save(out_dir)
    artifacts = Artifacts.load(out_dir)  # exactly what the worker will load
    events = recent_events(orders, recent, catalog, search_rate=search_rate, seed=seed)
    return Workload(artifacts, Path(out_dir), events, sorted({e.user_id for e in events}))


def run_settings(services: Settings, run: str, artifacts_dir: Path) -> Settings:
    """Settings of one scenario: its own app id, topics and key prefix; no fading-search timer,
    so the answers depend on the events only (as the offline twin's do).

    >>> s = run_settings(Settings(), "chaos-1-kill", Path("a"))
    >>> s.app_id, s.reco_prefix, s.topic_dead_letters, s.decay_rescore_interval_s
    ('chaos-1-kill', 'chaos-1-kill', 'chaos-1-kill-dead-letters', 0.0)
    """
    return replace(services.isolated(run, artifacts_dir), model_path=None)


def seed_answers(artifacts: Artifacts, settings: Settings) -> int:
    """The fallback and every known shopper's batch answer under ``settings.reco_prefix``, as
    ``stream-app build`` leaves them (chaos builds once, then seeds each scenario's prefix)."""
    from scorers import batch_recommendation, fallback
    from stream_app.worker.sinks import RedisSink

    async def seed() -> int:
        sink = RedisSink.from_url(settings.redis_url, settings.reco_prefix)
        try:
            await sink.write([fallback(artifacts, settings.k)])
            users = artifacts.known_users()
            written = 0
            for i in range(0, len(users), 1000):  # pipelined batches, as build writes them
                chunk = [
                    batch_recommendation(artifacts, u, settings.k) for u in users[i : i + 1000]
                ]
                answers = [r for r in chunk if r is not None]
                await sink.write(answers)
                written += len(answers)
            return written
        finally:
            await sink.close()

    return asyncio.run(seed())
