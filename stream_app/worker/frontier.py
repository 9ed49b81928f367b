"""How far the worker has read each input partition, in append time: when held events may settle.

A user's events come from three co-partitioned topics that are read independently, so a
checkout can be read long before the cart adds it closes: after a backlog, a restart or a
broker outage the cart-adds partition may trail the checkouts partition by minutes. The
reorder buffer (:mod:`features.reorder`) therefore holds a user's recent events and may
fold one into its settled base only once nothing that goes before it can still be read.

That is a question about the *stream*, not the wall clock. Producers publish a user's events
in event-time order (up to ``hold_ms`` of lateness between topics), so every event that goes
before event ``E`` was appended to Kafka before ``appended(E) + hold_ms``. The frontier of a
partition group ``p`` is the latest time ``t`` such that every record appended to any of the
three ``(topic, p)`` before ``t`` has been processed. ``E`` settles when ``appended(E) +
hold_ms < frontier(p)``: exact however long the worker stalled, crashed or lagged.

Evidence per ``(topic, p)``, the larger wins:

* **the append time of the last processed record** (topics with
  ``message.timestamp.type=LogAppendTime``, as ``stream-app`` creates them; records in a
  partition are appended in offset order);
* **caught up**: a fetch response at wall time ``g`` reported high-water mark ``hw``; once
  every offset below ``hw`` has been processed, everything appended before ``g`` has been.
  This is what moves an idle partition (no searches at all) and topics whose records carry
  producer (``CreateTime``) timestamps, for which ``appended`` is the wall time a record was
  read.

The consumer thread reports fetches (:meth:`Frontier.fetched`), the agent reports processed
records (:meth:`Frontier.processed`) and asks :meth:`Frontier.settle_before`. Nothing here is
persisted: after a restart or a rebalance the frontier starts unknown (nothing settles) and is
rebuilt from what is read, so events restored from the changelog are held until the stream
shows it is safe. Broker and worker clocks are assumed to agree within ``hold_ms``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

__all__ = ["Frontier"]

_EVIDENCE = 256  # fetch reports kept per partition while the agent works through them


class Frontier:
    """Per input partition: append-time marks and caught-up evidence; see the module docstring.

    >>> f = Frontier(["adds", "checkouts"])
    >>> f.processed("adds", 3, 0, 1_000)            # a LogAppendTime record appended at 1000
    >>> f.settle_before(3) is None                   # nothing known of checkouts[3] yet
    True
    >>> f.fetched("checkouts", 3, 5_000, 0, 0)       # empty partition: caught up at 5000
    >>> f.settle_before(3)
    1000
    >>> f.fetched("adds", 3, 6_000, 2, 2, True)      # two records there by 6000; one read
    >>> f.settle_before(3)
    1000
    >>> f.processed("adds", 3, 1, None)              # the second (a CreateTime record)
    >>> f.settle_before(3)
    5000
    """

    def __init__(self, topics: Iterable[str]) -> None:
        self.topics = tuple(topics)
        self._wanted = frozenset(self.topics)
        self._marks: dict[tuple[str, int], int] = {}
        self._next: dict[tuple[str, int], int] = {}
        self._reports: dict[tuple[str, int], deque[tuple[int, int]]] = {}
        self._caught_up: dict[tuple[str, int], int] = {}
        self._handed: set[tuple[str, int]] = set()

    def wants(self, topic: str) -> bool:
        """Whether ``topic`` is one of the input topics tracked here."""
        return topic in self._wanted

    def processed(self, topic: str, partition: int, offset: int, appended_ms: int | None) -> None:
        """The agent has taken the record at ``offset`` (``appended_ms``: its LogAppendTime)."""
        tp = (topic, partition)
        if offset + 1 > self._next.get(tp, -1):
            self._next[tp] = offset + 1
        if appended_ms is not None and appended_ms > self._marks.get(tp, -1):
            self._marks[tp] = appended_ms

    def fetched(
        self,
        topic: str,
        partition: int,
        poll_ms: int,
        highwater: int,
        position: int,
        handed_out: bool = False,
    ) -> None:
        """The consumer learnt at wall time ``poll_ms`` that ``(topic, partition)`` ends at
        ``highwater``; ``position`` is the next offset it will hand out, ``handed_out`` whether
        this fetch handed records of it to Faust (called from the consumer thread)."""
        tp = (topic, partition)
        if handed_out:
            self._handed.add(tp)
        elif tp not in self._handed and tp not in self._next and position >= highwater:
            # nothing handed out since the frontier was cleared and nothing left to hand out
            self._next[tp] = position
        reports = self._reports.get(tp)
        if reports is None:
            reports = self._reports[tp] = deque(maxlen=_EVIDENCE)
        if not reports or reports[-1] != (poll_ms, highwater):
            reports.append((poll_ms, highwater))

    def position(self, topic: str, partition: int) -> int | None:
        """The next offset of ``(topic, partition)`` to process (None: unknown yet)."""
        return self._next.get((topic, partition))

    def mark(self, topic: str, partition: int) -> int | None:
        """The frontier of one input partition (None: unknown yet)."""
        tp = (topic, partition)
        done = self._next.get(tp)
        reports = self._reports.get(tp)
        if done is not None and reports:
            while reports and reports[0][1] <= done:
                poll_ms, _ = reports.popleft()
                if poll_ms > self._caught_up.get(tp, -1):
                    self._caught_up[tp] = poll_ms
        best = max(self._marks.get(tp, -1), self._caught_up.get(tp, -1))
        return best if best >= 0 else None

    def settle_before(self, partition: int) -> int | None:
        """The frontier of partition group ``partition``: the least over the input topics
        (None while any of them is unknown)."""
        low: int | None = None
        for topic in self.topics:
            mark = self.mark(topic, partition)
            if mark is None:
                return None
            low = mark if low is None else min(low, mark)
        return low

    def clear(self) -> None:
        """Forget everything (partitions were revoked; positions will be sought again)."""
        self._marks.clear()
        self._next.clear()
        self._reports.clear()
        self._caught_up.clear()
        self._handed.clear()
