"""Three workers in one group under a steady replay: one SIGKILLed, one stopped cleanly
mid-stream; afterwards every shopper's answer equals the offline twin's (the `workers`
scenario of `stream-app chaos`, on the fixture): nothing lost, nothing applied twice.

Runs against the configured Kafka and Redis (it stops only workers). ``pytest -m chaos``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stream_app.settings import Settings
from stream_app.tools.chaos import Lab, Options, format_table, load_workload
from stream_app.tools.chaos.scenarios import workers

pytestmark = [pytest.mark.integration, pytest.mark.chaos, pytest.mark.timeout(480)]

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "instacart"


def test_three_workers_one_killed_one_stopped_leave_every_answer_equal_to_the_twin(
    live_services: Settings, tmp_path: Path
) -> None:
    workload = load_workload(
        FIXTURE / "orders.csv",
        FIXTURE,
        tmp_path / "artifacts",
        last_orders=4,
        search_rate=0.3,
        seed=11,
    )
    options = Options(replay_s=15.0, stall_s=60.0, seed=11)
    lab = Lab(live_services, workload, tmp_path, options, progress=False)
    result = workers(lab)
    report = f"\n{format_table([result])}\n{result.notes}\nworker logs: {tmp_path / 'logs'}"
    assert not result.failed, report
    assert result.seconds is not None, report
    assert (result.differing, result.lost) == (0, 0), report
