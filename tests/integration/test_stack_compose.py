"""docker-compose.yml cannot run here (no Docker engine); these checks keep it consistent with
the local stack: same Kafka version, topic names, partitions, ports and STREAM_APP_* knobs."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from stream_app.settings import ENV_PREFIX, Settings

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
DEFAULTS = Settings()


def _env(text: str) -> dict[str, str]:
    return {
        m[1]: m[2].strip('"') for m in re.finditer(r"^\s+(STREAM_APP_[A-Z_]+):\s*(\S+)", text, re.M)
    }


def test_compose_runs_the_same_kafka_version_as_the_local_stack():
    assert f"image: apache/kafka:{DEFAULTS.kafka_version}\n" in COMPOSE.read_text()


def test_compose_topics_partitions_and_ports_match_the_settings_defaults():
    text = COMPOSE.read_text()
    env = _env(text)
    for field in ("topic_cart_adds", "topic_searches", "topic_checkouts", "topic_dead_letters"):
        assert env[ENV_PREFIX + field.upper()] == getattr(DEFAULTS, field)
    assert env["STREAM_APP_PARTITIONS"] == str(DEFAULTS.partitions)
    assert f"KAFKA_NUM_PARTITIONS: {DEFAULTS.partitions}\n" in text
    kafka_port = DEFAULTS.kafka_bootstrap.rsplit(":", 1)[1]
    redis_port = DEFAULTS.redis_url.rsplit(":", 1)[1].split("/")[0]
    assert f'"{kafka_port}:9092"' in text and f"EXTERNAL://localhost:{kafka_port}" in text
    assert f'"{redis_port}:6379"' in text
    assert f'"{DEFAULTS.web_port}:{DEFAULTS.web_port}"' in text


def test_compose_sets_only_existing_settings():
    known = {ENV_PREFIX + f.name.upper() for f in dataclasses.fields(Settings)}
    assert set(_env(COMPOSE.read_text())) <= known


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="no docker-compose client")
def test_compose_file_is_valid_for_docker_compose():
    done = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
