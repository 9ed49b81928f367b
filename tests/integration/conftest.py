"""Fixtures for integration tests: the real Kafka and Redis of ``stream-app services up``.

The addresses come from ``Settings.from_env()`` (``STREAM_APP_KAFKA_BOOTSTRAP``,
``STREAM_APP_REDIS_URL``). If nothing answers there, the session runs ``services up`` itself
(idempotent, locked, real processes); if that fails too, every integration test fails with
the reason. No mocks: these tests exist to exercise the real services.

Use ``unique_name`` for topics, group ids and Redis key prefixes so that tests (and several
engineers' runs against the same shared services) never see each other's data.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from schemas.errors import StreamAppError
from stream_app.settings import Settings
from stream_app.stack import kafka_answers, procs, provision_topics, redis_answers, services_up


@pytest.fixture(scope="session")
def settings() -> Settings:
    """The settings every integration test runs with (from ``STREAM_APP_*``)."""
    return Settings.from_env()


@pytest.fixture(scope="session")
def live_services(settings: Settings) -> Settings:
    """Kafka and Redis answer at the configured addresses (started here if needed)."""
    if kafka_answers(settings.kafka_bootstrap) and redis_answers(settings.redis_url):
        return settings
    try:
        services_up(settings, topics=True)
    except StreamAppError as exc:
        pytest.fail(
            f"Kafka/Redis do not answer at {settings.kafka_bootstrap} / {settings.redis_url} "
            f"and `stream-app services up` failed: {exc}",
            pytrace=False,
        )
    return settings


@pytest.fixture(scope="session")
def kafka_bootstrap(live_services: Settings) -> str:
    """Bootstrap address of a live Kafka broker."""
    return live_services.kafka_bootstrap


@pytest.fixture(scope="session")
def redis_url(live_services: Settings) -> str:
    """URL of a live Redis server."""
    return live_services.redis_url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[object]:
    """A sync ``redis.Redis`` client on the live server (closed after the test)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """``unique_name("orders")`` -> ``"t-orders-test-foo-3f9a1c2b"``: a fresh topic/key name."""
    test = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name)[:40].strip("-")

    def make(label: str = "x") -> str:
        return f"t-{label}-{test}-{uuid.uuid4().hex[:8]}"

    return make


@pytest.fixture
def free_port() -> Callable[[], int]:
    """A function returning a TCP port nobody listens on right now (never the same twice)."""
    return procs.free_port


@pytest.fixture(scope="session")
def pipeline_settings(live_services: Settings) -> Callable[..., Settings]:
    """``pipeline_settings(run, artifacts_dir, **overrides)``: settings of one pipeline run of its
    own (app id, Redis prefix and topics named after ``run``; 4 partitions; no fading-search timer,
    so answers depend on the events only), its topics provisioned as the worker does (no
    time-based retention: replayed events carry their 2017 timestamps)."""

    def make(run: str, artifacts_dir: Path, **overrides: Any) -> Settings:
        settings = replace(live_services.isolated(run, artifacts_dir), partitions=4, **overrides)
        provision_topics(settings)
        return settings

    return make


def pytest_configure(config: pytest.Config) -> None:
    """Silence kafka-python 3's import-time deprecation noise (importlib.resources.read_text)."""
    for message in ("read_text is deprecated", "open_text is deprecated"):
        config.addinivalue_line("filterwarnings", f"ignore:{message}:DeprecationWarning")
