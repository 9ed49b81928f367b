"""The worker's Faust app takes its configuration from Settings alone, not Faust's own
environment variables (a shell's WEB_PORT or BROKER_URL would silently move every worker)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream_app.settings import Settings
from stream_app.worker.app import create_app
from stream_app.worker.sinks import MemorySink


def test_faust_environment_variables_do_not_override_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, artifacts
) -> None:
    monkeypatch.setenv("WEB_PORT", "1234")
    monkeypatch.setenv("BROKER_URL", "kafka://elsewhere:1")
    monkeypatch.setenv("BROKER_MAX_POLL_RECORDS", "7")
    settings = Settings(
        app_id="env-test", web_port=16599, kafka_bootstrap="localhost:1", state_dir=tmp_path
    )

    app = create_app(settings, artifacts=artifacts, sink=MemorySink())

    assert app.conf.web_port == 16599
    assert [str(url) for url in app.conf.broker] == ["kafka://localhost:1"]
    assert app.conf.broker_max_poll_records == settings.batch_max
