"""`stream-app bench` on the bundled sample: every section measured, nothing left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stream_app.settings import Settings
from stream_app.stack.procs import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "instacart"


def test_bench_on_the_sample_reports_every_section_and_cleans_up(
    live_services: Settings, redis_client, tmp_path: Path
) -> None:
    from kafka import KafkaAdminClient

    out = tmp_path / "bench.json"
    env = {
        **os.environ,
        "STREAM_APP_KAFKA_BOOTSTRAP": live_services.kafka_bootstrap,
        "STREAM_APP_REDIS_URL": live_services.redis_url,
        "STREAM_APP_STATE_DIR": str(tmp_path / "state"),
        "STREAM_APP_WEB_PORT": str(free_port()),
    }
    argv = ["--orders", str(FIXTURE / "orders.csv"), "--catalog", str(FIXTURE)]
    small = ["--last-orders", "1", "--seconds", "2", "--rate", "200", "--read-rate", "100"]
    done = subprocess.run(
        [sys.executable, "-m", "stream_app", "bench", *argv, *small, "--json", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=140,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    r = json.loads(out.read_text())
    assert r["backlog"]["shoppers"] == 25 and r["backlog"]["order"] == "shoppers interleaved"
    drain = r["drain"]
    assert drain["answered"] == drain["shoppers"] == 25
    assert drain["applied"] == drain["events"] == r["backlog"]["events"]
    assert drain["events_per_rescore"] > 1 and drain["worker_stats"]["dead_letters"] == 0
    surfaces = ["default", "buy_again", "basket", "search"]  # every one, unless --surfaces
    assert r["conditions"]["surfaces"] == list(drain["surfaces"]) == surfaces
    assert drain["surfaces"]["default"]["rescores"] == drain["worker_stats"]["answers"]
    assert all(s["rescores"] > 0 and s["ms_per_event"] > 0 for s in drain["surfaces"].values())
    assert set(r["floors"]) == {"bare", "faust"}
    for floor in r["floors"].values():
        assert floor["applied"] == floor["events"] and floor["answered"] == 25
    fresh = r["freshness"]
    assert fresh["events"] == fresh["answered"] == 400 and fresh["unanswered"] == 0
    assert set(fresh["delay_ms"]) == {"n", "p50", "p90", "p99", "max"}
    assert fresh["answered_per_s"] > 0 and fresh["last_send_to_last_answer_s"] >= 0
    for kind in ("library", "http"):
        assert r["reads"][kind]["reads"] > 0 and r["reads"][kind]["errors"] == 0
        assert {"p50", "p99"} <= set(r["reads"][kind]["ms"])
    cost = r["cost"]
    assert cost["cpu_s_per_1k_events"] > 0 and all(cost["peak_rss_bytes"])
    assert cost["table_state_bytes"]["n"] == 25 and cost["redis_bytes"]["n"] == 25
    assert "drain (first batch" in done.stdout and "freshness:" in done.stdout
    assert "  surfaces: default " in done.stdout

    run = r["run"]
    assert not list(redis_client.scan_iter(match=f"{run}*"))
    admin = KafkaAdminClient(bootstrap_servers=live_services.kafka_bootstrap.split(","))
    try:
        assert not [t for t in admin.list_topics() if t.startswith(run)]
    finally:
        admin.close()
