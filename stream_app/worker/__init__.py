"""The worker, in the order an event goes through it.

:mod:`~stream_app.worker.app` wires Faust: the consumer (:mod:`~stream_app.worker.fetchguard`)
hands each fetched record set to the :mod:`~stream_app.worker.intake`, merged in append time
across the co-partitioned topics; the :mod:`~stream_app.worker.pipeline` decodes it (bad input
to :mod:`~stream_app.worker.deadletter`), folds each shopper's events into their reorder buffer
(:mod:`features.reorder`, settled by the :mod:`~stream_app.worker.frontier`), writes the states
back to the table (:mod:`~stream_app.worker.changelog` confirms them), rescores each touched
shopper once and writes the answers to Redis (:mod:`~stream_app.worker.sinks`). Answers whose
search intent is still fading are noted (:mod:`~stream_app.worker.fading`) and rescored by a
timer; when Redis loses answers, :mod:`~stream_app.worker.rematerialise` writes them again.
"""
