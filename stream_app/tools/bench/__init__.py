"""``stream-app bench``: how fast, how fresh and how costly the pipeline is, on its own topics.

One run, in order (each phase a module):

1. **backlog** (:mod:`~stream_app.tools.bench.traffic`): build from each shopper's orders before
   their last ``--last-orders`` (or use ``--log`` and existing artifacts), seed the run's Redis
   prefix, publish those last orders as events, shoppers interleaved as in a store;
2. **floors** (:mod:`~stream_app.tools.bench.floors`): a bare aiokafka consumer, then a minimal
Faust
   app, each drains the same backlog into Redis with no state and no scoring;
3. **drain** (:mod:`~stream_app.tools.bench.drain`, :mod:`~stream_app.tools.bench.workers`):
``--workers``
   worker processes start on the backlog; events/s from their first batch until the last event
   is applied and every shopper's answer reflects it, as a ratio to each floor;
4. **freshness** and **reads** (:mod:`~stream_app.tools.bench.freshness`,
   :mod:`~stream_app.tools.bench.reads`): events paced at ``--rate`` for ``--seconds``, the delay
   from each send to its answer in Redis, while reader threads read answers through the
   serving library and HTTP;
5. **cost** (:mod:`~stream_app.tools.bench.cost`): worker CPU per 1,000 events during the drain,
   peak RSS, table state and Redis bytes per shopper.

:mod:`~stream_app.tools.bench.screen` prints the results; ``--json`` writes them.
"""

from stream_app.tools.bench.run import run_bench

__all__ = ["run_bench"]
