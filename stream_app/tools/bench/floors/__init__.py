"""The floors: the least a consumer of the same backlog must do, measured in the same run.

* :mod:`~stream_app.tools.bench.floors.bare`: aiokafka, ``orjson`` decode, one pipelined Redis write
  per batch (a ``SET`` per distinct shopper), its own consumer group;
* :mod:`~stream_app.tools.bench.floors.minimal_faust`: the same in a minimal Faust app (one agent,
  ``take_events``), its own app id.

Neither keeps state or scores: the pipeline's drain rate divided by a floor's is the share of
the machine's Kafka + Redis + Python budget the pipeline leaves on the table, a ratio that
holds on a noisy machine where absolute rates do not. Each runs as a subprocess
(``python -m stream_app.tools.bench.floors.bare ...``) so that the bench's own polling competes with
it as it competes with the workers. Their answers are ``{"event_ts", "updated_at", "source":
"floor"}`` under the floor's key prefix, and its progress under ``{prefix}:progress``
(:class:`~stream_app.tools.bench.floors.common.FloorWriter`).
"""

from stream_app.tools.bench.floors.common import (
    FloorConfig,
    FloorProcess,
    FloorWriter,
    floor_args,
    latest_ts,
    parse_floor_args,
    progress_key,
)

__all__ = [
    "FloorConfig",
    "FloorProcess",
    "FloorWriter",
    "floor_args",
    "latest_ts",
    "parse_floor_args",
    "progress_key",
]
