"""What the pipeline costs: CPU per event, peak memory, table state and Redis bytes per shopper.

CPU comes from ``/proc/<pid>/stat`` (user + system time) of the processes that do the work
(the workers, a floor), memory from ``VmHWM`` in ``/proc/<pid>/status``; the table state from
the app's changelog topic (the last value of each key, which is what a restarted worker
restores), Redis bytes from ``MEMORY USAGE`` of a sample of answer keys.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import redis

from schemas.recommendation import reco_key
from stream_app.tools.bench.procfs import process_cpu_s

__all__ = ["CpuMeter", "redis_sizes", "table_state_sizes"]


class CpuMeter:
    """CPU seconds per event of some processes, each from the start of its first batch.

    ``counters`` maps each pid to a function returning how many events that process has
    applied so far (0 while it cannot say); ``starts`` (optional) each pid to a function
    returning the process's CPU seconds when its first batch began (None: not yet, or it cannot
    say). The baseline (CPU, events) of a process is that CPU time and 0 events when it can say,
    else what the first :meth:`poll` that finds it has applied events reads; either way its
    start (imports, artifacts, joining the group) is left out of both sides of the ratio.
    """

    def __init__(
        self,
        counters: Mapping[int, Callable[[], int]],
        starts: Mapping[int, Callable[[], float | None]] | None = None,
    ) -> None:
        self.counters = dict(counters)
        self.starts = dict(starts or {})
        self.base: dict[int, tuple[float, int]] = {}
        self.seen: dict[int, int] = {}
        """The most events each process was seen to have applied (a count that could not be
        read, 0, does not undo it)."""

    def poll(self) -> None:
        """Take the baseline of processes that have just started applying events."""
        for pid, count in self.counters.items():
            if pid in self.base:
                continue
            start = self.starts.get(pid)
            began = start() if start is not None else None
            if began is not None:
                self.base[pid] = (began, 0)
                continue
            applied = count()
            cpu = process_cpu_s(pid) if applied > 0 else None
            if cpu is not None:
                self.base[pid] = (cpu, applied)

    def finish(self) -> dict[str, Any]:
        """CPU seconds and events (``cpu_events``) since the baselines, and CPU seconds per
        1,000 events."""
        self.poll()  # a process that drained everything between two polls
        cpu, events = 0.0, 0
        for pid, (cpu0, applied0) in self.base.items():
            now = process_cpu_s(pid)
            if now is None:
                continue
            cpu += now - cpu0
            events += max(self.counters[pid](), self.seen.get(pid, 0)) - applied0
        return {
            "cpu_s": round(cpu, 2),
            "cpu_events": events,
            "cpu_s_per_1k_events": round(cpu / events * 1000, 3) if events > 0 else None,
        }

    def applied(self) -> int:
        """Events the processes applied so far, in all."""
        total = 0
        for pid, count in self.counters.items():
            self.seen[pid] = max(self.seen.get(pid, 0), count())
            total += self.seen[pid]
        return total


def table_state_sizes(
    bootstrap: str, topic: str, *, timeout_s: float = 60.0, progress: bool = True
) -> list[int]:
    """Bytes of each key's last value in a changelog topic (deleted keys left out)."""
    from kafka import KafkaConsumer, TopicPartition
    from tqdm import tqdm

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap.split(","),
        group_id=None,
        enable_auto_commit=False,
        client_id="stream-app-bench",
    )
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        begin, end = consumer.beginning_offsets(tps), consumer.end_offsets(tps)
        consumer.seek_to_beginning(*tps)
        todo = {tp for tp in tps if end[tp] > begin[tp]}
        latest: dict[bytes, int] = {}
        deadline = time.monotonic() + timeout_s
        with tqdm(
            total=sum(end[tp] - begin[tp] for tp in tps),
            unit="msg",
            desc="changelog",
            disable=not progress,
        ) as bar:
            while todo and time.monotonic() < deadline:
                for tp, records in consumer.poll(timeout_ms=500).items():
                    for r in records:
                        if r.value is None:
                            latest.pop(r.key, None)
                        else:
                            latest[r.key] = len(r.value)
                    bar.update(len(records))
                    if consumer.position(tp) >= end[tp]:
                        todo.discard(tp)
        return list(latest.values())
    finally:
        consumer.close()


def redis_sizes(
    client: redis.Redis, prefix: str, users: Sequence[int], *, sample: int = 200, seed: int = 0
) -> list[int]:
    """``MEMORY USAGE`` (value, key and overhead, in bytes) of a random sample of answer keys."""
    chosen = random.Random(seed).sample(list(users), min(sample, len(users)))
    pipe = client.pipeline(transaction=False)
    for user in chosen:
        pipe.memory_usage(reco_key(user, prefix), samples=0)
    return [n for n in pipe.execute() if n is not None]
