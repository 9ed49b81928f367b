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

    def surface_twin(
        self, events: Iterable[Event], settings: Settings
    ) -> dict[tuple[int, str], Recommendation]:
        """The offline answer of every surface other than ``default`` of every shopper in
        ``events`` (``stream-app build``'s where no event rescored it): what the worker must
        leave at ``reco:{user}:{surface}``, however its batches were cut by the faults."""
        from scorers.surfaces import DEFAULT_SURFACE, load_surfaces
        from stream_app.worker.pipeline import feature_config, replay_surfaces

        config = feature_config(self.artifacts, settings.session_gap_ms)
        answers = replay_surfaces(
            events,
            self.artifacts,
            config=config,
            k=settings.k,
            surfaces=load_surfaces(settings.surfaces_path),
            seeded=True,
        )
        return {key: reco for key, reco in answers.items() if key[1] != DEFAULT_SURFACE}


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
    """The fallback and every known shopper's batch answers (every surface ``build`` seeds)
    under ``settings.reco_prefix``, as ``stream-app build`` leaves them (chaos builds once, then
    seeds each scenario's prefix); the number of default answers."""
    from scorers import fallback
    from scorers.surface_models import MODELS
    from scorers.surfaces import DEFAULT_SURFACE, batch_answers, load_surfaces
    from stream_app.worker.sinks import RedisSink

    surfaces = load_surfaces(settings.surfaces_path)

    async def seed() -> int:
        sink = RedisSink.from_url(settings.redis_url, settings.reco_prefix)
        try:
            await sink.write([fallback(artifacts, settings.k)])
            users = artifacts.known_users()
            written = 0
            for i in range(0, len(users), 1000):  # pipelined batches, as build writes them
                answers = batch_answers(
                    artifacts, users[i : i + 1000], surfaces, settings.k, MODELS
                )
                await sink.write(answers)
                written += sum(r.surface == DEFAULT_SURFACE for r in answers)
            return written
        finally:
            await sink.close()

    return asyncio.run(seed())
