"""End-to-end tests run on the real services of ``stream-app services up`` (started if needed)."""

from __future__ import annotations

import pytest

from schemas.errors import StreamAppError
from stream_app.settings import Settings
from stream_app.stack import kafka_answers, redis_answers, services_up


@pytest.fixture(scope="session")
def live_services() -> Settings:
    """Kafka and Redis answer at the configured addresses (started here if needed)."""
    settings = Settings.from_env()
    if kafka_answers(settings.kafka_bootstrap) and redis_answers(settings.redis_url):
        return settings
    try:
        services_up(settings, topics=True)
    except StreamAppError as exc:
        pytest.fail(f"Kafka/Redis unavailable and `services up` failed: {exc}", pytrace=False)
    return settings


def pytest_configure(config: pytest.Config) -> None:
    """Silence kafka-python 3's import-time deprecation noise (importlib.resources.read_text)."""
    for message in ("read_text is deprecated", "open_text is deprecated"):
        config.addinivalue_line("filterwarnings", f"ignore:{message}:DeprecationWarning")
