"""A worker SIGKILLed at random points of its drain loses nothing: every shopper's answer in
Redis equals the offline twin's (the `kill` scenario of `stream-app chaos`, on the fixture).

Runs against the configured Kafka and Redis (it kills only workers, never the services), with
the worker's own settings. Select it alone with ``pytest -m chaos``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from stream_app.settings import Settings
from stream_app.tools.chaos import Lab, Options, format_table, load_workload
from stream_app.tools.chaos.scenarios import kill

# a restarted worker may idle a whole consumer session (Faust's default: 60 s) before it
# consumes, so the limit allows five of those; with static membership a restart takes seconds
pytestmark = [pytest.mark.integration, pytest.mark.chaos, pytest.mark.timeout(480)]

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "instacart"
KILLS = 5
LAST_ORDERS = 10  # ~4.2k events of 25 shoppers
BATCH_MAX = 16  # small record sets: a drain of that backlog long enough to be killed five times


def test_worker_sigkilled_mid_drain_leaves_every_answer_equal_to_the_twin(
    live_services: Settings, tmp_path: Path
) -> None:
    workload = load_workload(
        FIXTURE / "orders.csv",
        FIXTURE,
        tmp_path / "artifacts",
        last_orders=LAST_ORDERS,
        search_rate=0.3,
        seed=7,
    )
    settings = replace(live_services, batch_max=BATCH_MAX)
    lab = Lab(settings, workload, tmp_path, Options(kills=KILLS, seed=7), progress=False)
    result = kill(lab)
    report = f"\n{format_table([result])}\n{result.extra}\nworker logs: {tmp_path / 'logs'}"
    assert result.restarts == KILLS, report
    assert result.seconds is not None, report
    assert (result.differing, result.lost) == (0, 0), report
