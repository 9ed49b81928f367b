"""The surfaces declaration at the edges: the settings field names it, a bad one stops a worker."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.errors import ConfigError
from stream_app.settings import Settings
from stream_app.worker.app import create_app
from stream_app.worker.sinks import MemorySink

BAD = """
[[surface]]
name = "default"
context = ["history"]
model = "magic"
refresh = "events"
rescore_on = ["cart_add"]
"""


def test_the_settings_field_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    settings = Settings.from_env({"STREAM_APP_SURFACES_PATH": str(path)})
    assert settings.surfaces_path == path
    assert Settings().surfaces_path is None


def test_a_worker_with_a_bad_declaration_does_not_start(tmp_path: Path, artifacts) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(BAD, encoding="utf-8")
    settings = Settings(surfaces_path=path, state_dir=tmp_path / "state")
    with pytest.raises(ConfigError, match="unknown model 'magic'"):
        create_app(settings, artifacts=artifacts, sink=MemorySink())
