"""Chaos runs: kill the worker, the broker and Redis on purpose, feed bad and duplicate input,
and check every shopper's answer against the offline twin (``stream-app chaos``).

::

    workload.py   the events of the shoppers' last orders, artifacts, the twin's answers
    stack.py      a private Kafka + Redis on free ports (the ones that get killed)
    lab.py        what scenarios share; one fresh namespace (app id, topics, prefix) per run
    publisher.py  raw and paced (pausable) producing
    fuzz.py       the kinds of bad messages
    observe.py    reading the answers, judging them against the twin, waiting with a stall limit
    lag.py        whether the worker committed all its input (only then are answers final)
    scenarios.py  clean, kill, broker, redis-idle, redis-mid, fuzz, dup
    table.py      the table and the JSON report
"""

from stream_app.tools.chaos.lab import Lab, Options, Run, ScenarioResult
from stream_app.tools.chaos.scenarios import SCENARIOS
from stream_app.tools.chaos.stack import PrivateStack
from stream_app.tools.chaos.table import format_table, to_json
from stream_app.tools.chaos.workload import Workload, load_workload

__all__ = [
    "SCENARIOS",
    "Lab",
    "Options",
    "PrivateStack",
    "Run",
    "ScenarioResult",
    "Workload",
    "format_table",
    "load_workload",
    "to_json",
]
