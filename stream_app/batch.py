"""The batch side: build the artifacts from orders and seed Redis with their answers.

What can be cached is computed here, once per build: popularity, co-occurrence, the search
index, each known shopper's seeded state and the model (:func:`scorers.build_artifacts`); then
the fallback and a context-free answer for every known shopper go to Redis, so a known shopper
has a personalised answer before any event. ``stream-app build``, the demo and the bench run it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from stream_app.settings import Settings

if TYPE_CHECKING:
    from scorers import Artifacts

__all__ = ["CHUNK", "BuildSummary", "build_and_seed", "seed_answers"]


CHUNK = 1000


@dataclass(frozen=True)
class BuildSummary:
    """What a build did."""

    users: int
    items: int
    orders: int
    answers: int
    seconds: float
    out_dir: Path


def build_and_seed(
    orders: Sequence,
    catalog,
    settings: Settings,
    *,
    out_dir: Path | None = None,
    progress: bool = True,
) -> BuildSummary:
    """Build and save the artifacts, then write the fallback + every known user's batch answer."""
    from scorers import LinearModel, build_artifacts

    started = time.monotonic()
    out = out_dir or settings.artifacts_dir
    model = LinearModel.load(settings.model_path) if settings.model_path else None
    artifacts = build_artifacts(orders, catalog, model)
    artifacts.save(out)
    answers = seed_answers(artifacts, settings, progress=progress)
    return BuildSummary(
        users=len(artifacts.known_users()),
        items=len(catalog),
        orders=len(orders),
        answers=answers,
        seconds=time.monotonic() - started,
        out_dir=Path(out),
    )


def seed_answers(artifacts: Artifacts, settings: Settings, *, progress: bool = True) -> int:
    """Write the fallback and every known user's batch answers to Redis (unfenced, pipelined
    ``CHUNK`` users at a time): one per surface rescored on ``build`` (``default`` at
    ``reco:{user}``, ``buy_again``, ...); the number of answers written. Also used by
    ``stream-app bench --log``, which seeds its own key prefix from existing artifacts."""
    from tqdm import tqdm

    from scorers import fallback
    from scorers.surface_models import MODELS
    from scorers.surfaces import batch_answers, load_surfaces
    from stream_app.worker.sinks import RedisSink

    users = artifacts.known_users()
    surfaces = load_surfaces(settings.surfaces_path)

    async def seed() -> int:
        sink = RedisSink.from_url(settings.redis_url, settings.reco_prefix)
        written = 0
        try:
            await sink.write([fallback(artifacts, settings.k)])
            with tqdm(total=len(users), unit="user", desc="seed", disable=not progress) as bar:
                for i in range(0, len(users), CHUNK):
                    chunk = users[i : i + CHUNK]
                    answers = batch_answers(artifacts, chunk, surfaces, settings.k, MODELS)
                    await sink.write(answers)
                    written += len(answers)
                    bar.update(len(chunk))
        finally:
            await sink.close()
        return written

    return asyncio.run(seed())
