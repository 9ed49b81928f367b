"""The worker's steps, free of Faust: decode → update → write back → rank → sink.

:mod:`stream_app.worker.app` wires these into the worker's one batch task; everything here takes
plain values (:class:`Incoming` messages, a mutable mapping as the state table, a :class:`Sink`)
so it is unit-testable and the offline twin (:func:`replay_offline`) runs the very same calls.

Coalescing: a batch of messages is decoded, each user's events are added to the user's
reorder buffer (:mod:`features.reorder`: applied in event-time order, whatever the topic
they came from), each touched user's state is written back to the table once, each touched
user is rescored once, and all answers go to the sink in one write.

Surfaces (:mod:`scorers.surfaces`): a touched user is rescored only on the surfaces the user's
events of the batch touch (:meth:`Pipeline.dispatch`: a search rescores ``default`` and
``search``, not ``buy_again``); every surface's answers of the batch go in that one write.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, replace

from features import FeatureConfig, UserState, apply, empty_state, reorder
from schemas.errors import InvalidData, InvalidEvent
from schemas.events import Event, decode
from schemas.keys import user_key
from schemas.recommendation import Recommendation
from scorers import Artifacts
from scorers.surface_models import MODELS, SurfaceModel
from scorers.surfaces import (
    Surface,
    changed,
    dispatch,
    load_surfaces,
    rank_views,
    triggers,
)
from stream_app.clock import wall_ms
from stream_app.worker.deadletter import DeadLetter, dead_letter, unreadable_state
from stream_app.worker.fading import DecayNotes, search_fading
from stream_app.worker.frontier import Frontier
from stream_app.worker.sinks import Sink, write_until_done

__all__ = [
    "Incoming",
    "Pipeline",
    "feature_config",
    "order_for_apply",
    "replay_offline",
    "replay_surfaces",
]

log = logging.getLogger(__name__)


def feature_config(artifacts: Artifacts, session_gap_ms: int) -> FeatureConfig:
    """The config the worker applies events with: the artifacts' one, session gap from settings."""
    return replace(artifacts.config, session_gap_ms=session_gap_ms)


@dataclass(frozen=True, slots=True)
class Incoming:
    """One consumed message, as plain values."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    appended_ms: int | None = None
    """When Kafka appended it (the record's LogAppendTime), if the topic stamps that."""


def order_for_apply(decoded: Sequence[tuple[Incoming, Event]]) -> list[tuple[Incoming, Event]]:
    """Events in the order they are applied: by event time, arrival order among equals.

    The three topics are consumed independently, so a user's checkout can arrive before the
    cart adds it closes; inside a batch, event time restores the producer's order.

    >>> from schemas.events import CartAdd, Checkout
    >>> m = Incoming("t", 0, 0, b"7", b"")
    >>> out = order_for_apply([(m, Checkout("c", 7, 1_500_000_000_009)),
    ...                        (m, CartAdd("a", 7, 5, 1_500_000_000_001))])
    >>> [e.event_id for _, e in out]
    ['a', 'c']
    """
    return sorted(decoded, key=lambda pair: reorder.apply_key(pair[1]))


class Pipeline:
    """The worker's steps for one app: holds the artifacts, the sink and the decay notes."""

    def __init__(
        self,
        artifacts: Artifacts,
        sink: Sink,
        *,
        config: FeatureConfig,
        k: int = 10,
        max_event_bytes: int = 16 * 1024,
        notes_capacity: int = 50_000,
        hold_ms: int = reorder.DEFAULT_HOLD_MS,
        max_pending: int = reorder.DEFAULT_MAX_PENDING,
        frontier: Frontier | None = None,
        surfaces: Sequence[Surface] | None = None,
        models: Mapping[str, SurfaceModel] | None = None,
    ) -> None:
        self.artifacts = artifacts
        self.surfaces = tuple(load_surfaces() if surfaces is None else surfaces)
        """The declared surfaces, ``default`` first (:func:`scorers.surfaces.load_surfaces`)."""
        self.models = MODELS if models is None else models
        self.sink = sink
        self.config = config
        self.k = k
        self.max_event_bytes = max_event_bytes
        self.known_products = frozenset(
            pid for pid, name in enumerate(artifacts.names) if pid > 0 and name
        )
        self.hold_ms = hold_ms
        self.max_pending = max_pending
        self.frontier = frontier
        self._create_time: set[str] = set()
        """How far each input partition has been read (None: held events never settle by
        time, only beyond ``max_pending``; set by the app, see
        :mod:`stream_app.worker.frontier`)."""
        self.notes = DecayNotes(notes_capacity)
        self.highwater: Callable[[str, int], int | None] | None = None
        """``(topic, partition) -> high-water mark`` of the consumer (set by the app): lets
        :func:`reorder.drop_redelivered` tell a recreated topic from a redelivery."""
        self.before: dict[int, UserState] = {}
        """The states of the users :meth:`update` touched last, before its events (for
        :meth:`dispatch`)."""
        self.parsed_capacity = 5_000
        self._parsed: OrderedDict[int, tuple[bytes, reorder.Buffered]] = OrderedDict()
        self.lock = asyncio.Lock()
        self.stats: dict[str, int] = dict.fromkeys(
            (
                "events",
                "dead_letters",
                "answers",
                "batches",
                "max_batch",
                "busy_ms",
                "late_events",
                "max_late_events",
                "max_late_ms",
                "kept_newer",
                "redelivered",
                "pending_full",
                "surface_answers",
                *(f"rescored_{s.name}" for s in self.surfaces),
                *(f"rank_us_{s.name}" for s in self.surfaces),
            ),
            0,
        )
        """``answers``: shoppers rescored (by batches, the timer, rebuilds); ``surface_answers``:
        answers written, every surface's; ``rescored_{surface}``, ``rank_us_{surface}``: answers
        of that surface ranked and the microseconds its model took."""

    # -- decode -------------------------------------------------------------------------
    def decode(
        self, batch: Sequence[Incoming]
    ) -> tuple[list[tuple[Incoming, Event]], list[DeadLetter]]:
        """Validate every message; rejects become dead letters, the rest go on."""
        good: list[tuple[Incoming, Event]] = []
        bad: list[DeadLetter] = []
        for msg in batch:
            try:
                event = decode(msg.value or b"", self.known_products, self.max_event_bytes)
                if msg.key != user_key(event.user_id):
                    raise InvalidEvent(
                        "key_mismatch",
                        f"message key {msg.key!r} is not the event's user_id {event.user_id}",
                    )
            except InvalidEvent as exc:
                bad.append(self._reject(exc, "decode", msg))
                continue
            good.append((msg, event))
        return good, bad

    # -- update -------------------------------------------------------------------------
    def observe(self, batch: Sequence[Incoming]) -> None:
        """Tell the frontier every message of the batch was taken (rejected ones too)."""
        if self.frontier is None:
            return
        for msg in batch:
            if self.frontier.wants(msg.topic):
                self.frontier.processed(msg.topic, msg.partition, msg.offset, msg.appended_ms)
                if msg.appended_ms is None and msg.topic not in self._create_time:
                    self._create_time.add(msg.topic)
                    log.warning(
                        "topic %s stamps producer times (CreateTime): held events there settle "
                        "only once the worker has caught up; create it with "
                        "message.timestamp.type=LogAppendTime (as `stream-app services up` does)",
                        msg.topic,
                    )

    def load(self, table: MutableMapping[bytes, bytes], user_id: int) -> reorder.Buffered:
        """The user's buffered state from the table, else seeded from batch history, else empty.

        A stored value that cannot be read (corrupt, truncated, an older format) is logged and
        replaced by the seed, as for a new user (see :meth:`_read`).
        """
        return self._read(table, user_id)[0]

    def _read(
        self, table: MutableMapping[bytes, bytes], user_id: int
    ) -> tuple[reorder.Buffered, tuple[bytes, InvalidData] | None]:
        """:meth:`load`, plus ``(stored bytes, error)`` when the stored value was unreadable.

        Unreadable is a per-user problem, not a reason to stop: the changelog would restore
        the same value after a restart and the same batch would fail again, forever.
        """
        raw = table.get(user_key(user_id))
        if raw is None:
            return self._seed(user_id), None
        cached = self._parsed.get(user_id)
        if cached is not None and (cached[0] is raw or cached[0] == raw):  # assigned last time
            # (RocksDB hands back a copy of the bytes; comparing them is cheaper than parsing)
            return cached[1], None
        try:
            return reorder.from_bytes(raw, self._seed_of, self.config), None
        except InvalidData as exc:
            log.warning(
                "user %d: stored state is unreadable (%s); reseeded from batch history",
                user_id,
                exc,
            )
            return self._seed(user_id), (raw, exc)

    def _seed(self, user_id: int) -> reorder.Buffered:
        """A fresh buffer: the user's batch-history seed, else the empty state."""
        return reorder.start(self._seed_of(user_id))

    def _seed_of(self, user_id: int) -> UserState:
        """The user's batch seed (the state a stored delta is read against)."""
        return self.artifacts.seed_state(user_id) or empty_state(user_id)

    def update(
        self, table: MutableMapping[bytes, bytes], decoded: Sequence[tuple[Incoming, Event]]
    ) -> tuple[dict[int, reorder.Buffered], list[DeadLetter]]:
        """Add the events to their users' reorder buffers; the touched users' buffers, and the
        dead letters of users whose stored state was unreadable (they were reseeded)."""
        states: dict[int, reorder.Buffered] = {}
        bad: list[DeadLetter] = []
        self.before = {}
        arrived = wall_ms()
        by_user: dict[int, list[tuple[Incoming, Event]]] = {}
        for msg, event in order_for_apply(decoded):
            by_user.setdefault(event.user_id, []).append((msg, event))
        for user, mine in by_user.items():
            buf, unreadable = self._read(table, user)
            self.before[user] = buf.current
            if unreadable is not None:
                bad.append(self._reject_state(user, *unreadable, mine[0][0]))
            buf, events = reorder.drop_redelivered(
                buf,
                [e for _, e in mine],
                [(m.topic, m.partition, m.offset) for m, _ in mine],
                self.highwater,
            )
            self.stats["redelivered"] += len(mine) - len(events)
            appended = max(arrived if m.appended_ms is None else m.appended_ms for m, _ in mine)
            for event in events:
                depth, late_ms = reorder.lateness(buf, event, appended)
                if depth:
                    self.stats["late_events"] += 1
                    self.stats["max_late_events"] = max(self.stats["max_late_events"], depth)
                    self.stats["max_late_ms"] = max(self.stats["max_late_ms"], late_ms)
            frontier = None
            if self.frontier is not None:
                frontier = self.frontier.settle_before(mine[0][0].partition)
            # decoded events are valid: nothing here raises InvalidEvent, and anything it
            # does raise is a bug (the STOP branch of the error policy)
            buf = reorder.add_many(
                buf,
                events,
                self.config,
                appended,
                frontier=frontier,
                hold_ms=self.hold_ms,
                max_pending=self.max_pending,
            )
            if len(buf.pending) >= self.max_pending:
                self.stats["pending_full"] += 1
            states[user] = buf
            self.stats["events"] += len(events)
        return states, bad

    def write_back(
        self, table: MutableMapping[bytes, bytes], states: dict[int, reorder.Buffered]
    ) -> None:
        """Assign every touched state to the table (Faust logs only what is assigned).

        Also remembers the parsed state next to the bytes assigned, so the next batch skips
        parsing them while the table still holds that very object (a recovered or
        rebalanced table holds other objects, which are parsed).
        """
        for user, buf in states.items():
            raw = buf.to_bytes()
            table[user_key(user)] = raw
            self._parsed[user] = (raw, buf)
            self._parsed.move_to_end(user)
        while len(self._parsed) > self.parsed_capacity:
            self._parsed.popitem(last=False)

    # -- rank + sink --------------------------------------------------------------------
    def dispatch(
        self,
        decoded: Sequence[tuple[Incoming, Event]],
        states: Mapping[int, reorder.Buffered],
    ) -> dict[int, tuple[str, ...]]:
        """The surfaces to rescore per touched user: those the user's events of the batch
        touch (:func:`scorers.surfaces.triggers`, :func:`scorers.surfaces.dispatch`), and
        those whose view the batch changed all the same (:func:`scorers.surfaces.changed`: a
        late event re-folded before a checkout changes what it committed)."""
        events: dict[int, list[Event]] = {user: [] for user in states}
        for _, event in decoded:
            if event.user_id in events:
                events[event.user_id].append(event)
        out = {}
        for user, mine in events.items():
            after = states[user].current
            names = dispatch(triggers(mine, after), self.surfaces)
            before = self.before.get(user)
            if before is not None and len(names) < len(self.surfaces):
                rest = [s for s in self.surfaces if s.name not in names]
                more = set(changed(before, after, rest))
                if more:
                    names = tuple(
                        s.name for s in self.surfaces if s.name in names or s.name in more
                    )
            out[user] = names
        return out

    def rank(
        self,
        states: dict[int, reorder.Buffered],
        now_ms: dict[int, int] | None = None,
        surfaces: Mapping[int, Collection[str]] | None = None,
    ) -> list[Recommendation]:
        """The answers of each touched user on ``surfaces[user]`` (None: every surface), each
        ranked by its surface's model from the surface's view of the state
        (:func:`scorers.surfaces.rank_views`: what its context holds, at the time of the last
        event that changed it; at ``now_ms[user]``, the fading timer's time, for a surface
        rescored on ``fade``), its ``seq`` the user's :func:`reorder.stream_position` (the
        fence's tie-break). Default answers first."""
        at = now_ms or {}
        out: list[Recommendation] = []
        for surface in self.surfaces:
            users = [u for u in states if surfaces is None or surface.name in surfaces.get(u, ())]
            if not users:
                continue
            current = [states[u].current for u in users]
            started = time.perf_counter()
            answers = rank_views(
                surface, current, self.artifacts, self.k, self.models, [at.get(u) for u in users]
            )
            self.stats[f"rank_us_{surface.name}"] += round((time.perf_counter() - started) * 1e6)
            self.stats[f"rescored_{surface.name}"] += len(users)
            out.extend(
                replace(reco, seq=reorder.stream_position(states[user]))
                for user, reco in zip(users, answers, strict=True)
            )
        return out

    async def write(
        self,
        answers: Sequence[Recommendation],
        states: dict[int, reorder.Buffered],
        now_ms: dict[int, int] | None = None,
        generation: int | None = None,
    ) -> None:
        """Write all answers in one sink call (retrying), then update the decay notes, unless
        partitions were revoked since ``generation`` (``notes.generation`` read when the batch
        started; default: now): those users may not be ours any more."""
        if generation is None:
            generation = self.notes.generation
        await write_until_done(self.sink, answers)
        users = {reco.user_id for reco in answers if reco.user_id is not None}
        self.stats["answers"] += len(users)
        self.stats["surface_answers"] += len(answers)
        self.stats["kept_newer"] = getattr(self.sink, "kept_newer", 0)
        if self.notes.generation != generation:
            return
        written = wall_ms()
        at = now_ms or {}
        for user in users:
            state = states[user].current
            scored_at = at.get(user, state.last_ts)
            if search_fading(state, scored_at, self.config):
                # stored so that ``due`` later gives scored_at + the wall time since now
                self.notes.note(user, state.last_ts, written - (scored_at - state.last_ts))
            else:
                self.notes.forget(user)

    async def rescore_faded(self, table: MutableMapping[bytes, bytes], limit: int = 2000) -> int:
        """Timer step: rescore users whose search context faded since their last answer, on the
        surfaces the timer rescores (``fade`` in their ``rescore_on``)."""
        async with self.lock:
            due = self.notes.due(wall_ms(), limit)
            if not due:
                return 0
            states = {user: self.load(table, user) for user, _ in due}
            now_ms = dict(due)
            fading = dispatch({"fade"}, self.surfaces)
            answers = self.rank(states, now_ms, dict.fromkeys(states, fading))
            await self.write(answers, states, now_ms)
            return len(states)

    def begin_batch(self) -> None:
        """Note when (wall ms) and at what process CPU time (ms) the first batch began: the
        start of a drain, for ``stream-app bench``."""
        if "first_batch_ms" not in self.stats:
            self.stats["first_batch_ms"] = wall_ms()
            self.stats["first_batch_cpu_ms"] = round(time.process_time() * 1000)

    def count_batch(self, size: int, seconds: float, **steps: float) -> None:
        """Bookkeeping for the stats page: batches, their sizes, busy time and, per named
        step (``fold``, ``rank``, ``sink``, ``confirm``), the seconds it took (``{step}_ms``)."""
        self.stats["last_batch_ms"] = wall_ms()  # when the latest batch ended
        self.stats["batches"] += 1
        self.stats["max_batch"] = max(self.stats["max_batch"], size)
        self.stats["busy_ms"] += round(seconds * 1000)
        for step, spent in steps.items():
            self.stats[f"{step}_ms"] = self.stats.get(f"{step}_ms", 0) + round(spent * 1000)

    # -- helpers ------------------------------------------------------------------------
    def _reject_state(
        self, user_id: int, raw: bytes, exc: InvalidData, msg: Incoming
    ) -> DeadLetter:
        """The dead letter of ``user_id``'s unreadable stored state (already logged)."""
        self.stats["dead_letters"] += 1
        return unreadable_state(
            exc,
            user_id=user_id,
            topic=msg.topic,
            partition=msg.partition,
            offset=msg.offset,
            key=user_key(user_id),
            raw=raw,
        )

    def _reject(self, exc: BaseException, stage: str, msg: Incoming) -> DeadLetter:
        self.stats["dead_letters"] += 1
        log.warning(
            "dead letter: %s at %s %s[%d]@%d", exc, stage, msg.topic, msg.partition, msg.offset
        )
        return dead_letter(
            exc,
            stage=stage,
            topic=msg.topic,
            partition=msg.partition,
            offset=msg.offset,
            key=msg.key,
            raw=msg.value,
        )


def replay_offline(
    events: Iterable[Event],
    artifacts: Artifacts,
    *,
    config: FeatureConfig,
    k: int = 10,
    surfaces: Sequence[Surface] | None = None,
) -> dict[int, Recommendation]:
    """The offline twin of the worker's ``default`` surface: :func:`replay_surfaces` of that
    surface only, per user: what the worker leaves at ``reco:{user}`` after consuming
    ``events`` (the default surface is rescored on every event, so it is ranked once, from the
    fold of all of them)."""
    default = (load_surfaces() if surfaces is None else surfaces)[0]
    answers = replay_surfaces(events, artifacts, config=config, k=k, surfaces=[default])
    return {user: reco for (user, _), reco in answers.items()}


def replay_surfaces(
    events: Iterable[Event],
    artifacts: Artifacts,
    *,
    config: FeatureConfig,
    k: int = 10,
    surfaces: Sequence[Surface] | None = None,
    seeded: bool = False,
) -> dict[tuple[int, str], Recommendation]:
    """The offline twin of the worker, every surface: ``(user, surface) -> answer``, what the
    worker leaves at ``reco:{user}`` / ``reco:{user}:{surface}`` after consuming ``events``
    (the fading timer off).

    Same calls as the worker (``seed_state``/``empty_state``, ``apply``,
    :func:`scorers.surfaces.triggers`/``dispatch`` per event, the models over
    :func:`scorers.surfaces.view`): each event is applied and the surfaces it triggers take
    the view of the state after it; each surface is ranked once at the end, from the view it
    took last (a view changes only at the events that trigger its surface, so this equals
    ranking at each trigger, and the worker's ranking at the end of each batch). ``seeded``:
    also what ``stream-app build`` seeded for the events' known users (the ``build``
    surfaces no event rescored since).
    """
    declared = tuple(load_surfaces() if surfaces is None else surfaces)
    states: dict[int, UserState] = {}
    took: dict[tuple[int, str], UserState] = {}
    for event in reorder.sort_for_apply(events):
        user = event.user_id
        state = states.get(user)
        if state is None:
            state = artifacts.seed_state(user)
            if state is not None and seeded:
                for name in dispatch({"build"}, declared):
                    took[user, name] = state
            if state is None:
                state = empty_state(user)
        state = states[user] = apply(state, event, config)
        for name in dispatch(triggers([event], state), declared):
            took[user, name] = state
    out: dict[tuple[int, str], Recommendation] = {}
    for surface in declared:
        users = [user for user, name in took if name == surface.name]
        if users:
            got = rank_views(surface, [took[u, surface.name] for u in users], artifacts, k, MODELS)
            out.update(((user, surface.name), reco) for user, reco in zip(users, got, strict=True))
    return out
