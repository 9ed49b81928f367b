"""Local services for development, tests and the demo: Kafka (KRaft, from Maven jars) and Redis.

``stream-app services up | down | status`` is a thin CLI over :func:`services_up`,
:func:`services_down` and :func:`services_status`; :func:`ensure_topics` is what a worker
calls to make sure its input topics exist, co-partitioned.
"""

from stream_app.stack.control import (
    ServiceReport,
    provision_topics,
    services_down,
    services_status,
    services_up,
)
from stream_app.stack.kafka import kafka_answers
from stream_app.stack.redis import redis_answers
from stream_app.stack.topics import ensure_topics, topic_partitions

__all__ = [
    "ServiceReport",
    "ensure_topics",
    "kafka_answers",
    "provision_topics",
    "redis_answers",
    "services_down",
    "services_status",
    "services_up",
    "topic_partitions",
]
