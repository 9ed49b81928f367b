"""How far the worker's consumer group is behind its input topics.

An answer reflecting a shopper's *last* event does not mean the worker is done with the
shopper: the three topics are consumed independently, so a checkout (small topic, read early)
is often applied before cart adds with earlier times that are still on their way, and the
answer changes again when they come. The worker commits a batch's offsets only after its
answers are in Redis, so once the group's committed offsets reach the end of every input
partition, every answer is final: that is when a scenario compares.
"""

from __future__ import annotations

from stream_app.settings import Settings

__all__ = ["GroupLag"]


class GroupLag:
    """``lag = GroupLag(settings); lag.behind()`` -> messages not yet committed (None: unknown)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._consumer = None

    def _client(self):  # -> KafkaConsumer
        from kafka import KafkaConsumer

        if self._consumer is None:
            # in the worker's group only to read its commits: it never subscribes, so it never
            # joins (no rebalance), and it commits nothing
            self._consumer = KafkaConsumer(
                bootstrap_servers=self.settings.kafka_bootstrap.split(","),
                client_id="chaos-lag",
                group_id=self.settings.app_id,
                enable_auto_commit=False,
            )
        return self._consumer

    def behind(self) -> int | None:
        """Messages of the input topics past the group's committed offsets; None when Kafka
        does not answer (a scenario may have just killed it)."""
        from kafka import TopicPartition
        from kafka.errors import KafkaError

        parts = [
            TopicPartition(topic, p)
            for topic in self.settings.input_topics()
            for p in range(self.settings.partitions)
        ]
        try:
            consumer = self._client()
            ends = consumer.end_offsets(parts)
            return sum(max(0, end - (consumer.committed(tp) or 0)) for tp, end in ends.items())
        except (KafkaError, OSError, ValueError):
            self.close()  # start over with a fresh client next time
            return None

    def close(self) -> None:
        """Close the client (made again on the next :meth:`behind`)."""
        if self._consumer is not None:
            self._consumer.close(autocommit=False)
            self._consumer = None
