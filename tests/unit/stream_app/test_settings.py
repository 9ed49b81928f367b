"""Settings come from STREAM_APP_* variables only, with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas import ConfigError
from stream_app.settings import Settings


def test_defaults_without_environment() -> None:
    s = Settings.from_env({})
    assert (s.kafka_bootstrap, s.redis_url, s.partitions, s.k) == (
        "localhost:9092",
        "redis://localhost:6379/0",
        8,
        10,
    )


def test_environment_overrides_are_typed() -> None:
    s = Settings.from_env(
        {
            "STREAM_APP_PARTITIONS": "4",
            "STREAM_APP_BATCH_WITHIN_S": "0.2",
            "STREAM_APP_STATE_DIR": "/tmp/x",
            "STREAM_APP_MODEL_PATH": "m.json",
            "KAFKA_HOME": "/opt/kafka",
        }
    )
    assert s.partitions == 4
    assert s.batch_within_s == pytest.approx(0.2)
    assert s.state_dir == Path("/tmp/x")
    assert s.model_path == Path("m.json")
    assert s.kafka_home == "/opt/kafka"


def test_bad_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="STREAM_APP_PARTITIONS"):
        Settings.from_env({"STREAM_APP_PARTITIONS": "many"})
