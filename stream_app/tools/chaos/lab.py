"""The bench a scenario runs on: services, the workload, one fresh run per scenario, results.

A :class:`Lab` holds what every scenario shares (the services' settings, the workload and its
twin, the options, the private stack when there is one); ``with lab.run("kill") as run:``
gives a scenario its own app id, topics and key prefix (seeded like ``stream-app build``),
starts workers on them, and cleans up after (workers stopped, topics and keys deleted).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from schemas.errors import ServiceError
from schemas.events import Event
from schemas.recommendation import Recommendation
from stream_app.settings import Settings
from stream_app.stack.procs import free_port
from stream_app.tools.chaos.lag import GroupLag
from stream_app.tools.chaos.observe import Answers, Got, event_times, judge, wait_until
from stream_app.tools.chaos.stack import PrivateStack
from stream_app.tools.chaos.workload import Workload, run_settings, seed_answers
from stream_app.worker.deadletter import DeadLetter

__all__ = ["Lab", "Options", "Run", "ScenarioResult", "current_count", "matching_count"]


@dataclass(frozen=True)
class Options:
    """The knobs of a chaos run (``stream-app chaos --help`` explains each)."""

    kills: int = 10
    bad: int = 100
    outage_s: float = 30.0
    replay_s: float = 40.0
    """How long the paced replays (broker, redis-mid) last."""
    stall_s: float = 60.0
    """Give up waiting ("never") when no shopper's answer improved for this long."""
    redis_wait_s: float = 60.0
    seed: int = 0


@dataclass
class ScenarioResult:
    """One row of the table."""

    fault: str
    events: int
    shoppers: int
    differing: int
    lost: int
    dead_lettered: int
    restarts: int
    seconds: float | None
    """Time to current answers (what it is measured from depends on the fault); None: never."""
    expected_dead_letters: int = 0
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    """Requirements beyond "0 differing, 0 lost" that did not hold (e.g. fuzz's dead letters)."""

    @property
    def ok(self) -> bool:
        """No shopper differs from the twin, no event is lost, nothing else failed."""
        return self.differing == 0 and self.lost == 0 and not self.failed


def current_count(last_ts: dict[int, int]) -> Callable[[Got], int]:
    """Counter for :func:`wait_until`: shoppers whose answer reflects their last event in
    ``last_ts`` (shoppers not in it count as done).

    >>> from schemas.recommendation import Recommendation
    >>> count = current_count({7: 20, 8: 30})
    >>> count({7: Recommendation(7, (), "m", event_ts=20), 8: None, 9: None})
    2
    """

    def count(got: Got) -> int:
        return sum(
            1
            for user, answer in got.items()
            if user not in last_ts or (answer is not None and answer.event_ts >= last_ts[user])
        )

    return count


def matching_count(
    twin: dict[int, Recommendation], last_ts: dict[int, int]
) -> Callable[[Got], int]:
    """Counter for :func:`wait_until`: shoppers whose answer is current and the twin's."""
    from stream_app.tools.chaos.observe import same_answer

    def count(got: Got) -> int:
        return sum(
            1
            for user, answer in got.items()
            if answer is not None
            and answer.event_ts >= last_ts[user]
            and same_answer(answer, twin[user])
        )

    return count


class Lab:
    """What every scenario of a chaos run shares."""

    def __init__(
        self,
        services: Settings,
        workload: Workload,
        workdir: Path,
        options: Options,
        *,
        stack: PrivateStack | None = None,
        say: Callable[[str], None] = print,
        progress: bool = True,
    ) -> None:
        self.services = services
        self.workload = workload
        self.workdir = Path(workdir)
        self.options = options
        self.stack = stack
        self.say = say
        self.progress = progress
        self.stamp = f"{int(time.time())}-{os.getpid()}"
        self.twin = workload.twin(workload.events, services)
        self.surface_twin = workload.surface_twin(workload.events, services)
        """Every other surface's offline answer per shopper (``(user, surface)`` keys)."""
        self.times = event_times(workload.events)
        self.last_ts = {user: ts[-1] for user, ts in self.times.items()}

    def run(self, fault: str) -> Run:
        """A fresh run for ``fault`` (use as a context manager)."""
        return Run(self, fault)

    def need_stack(self, fault: str) -> PrivateStack:
        """The private stack; a scenario that kills a service refuses to run without one."""
        if self.stack is None:
            raise ServiceError(
                f"chaos {fault}: needs a private Kafka + Redis (it kills them); "
                "run it through `stream-app chaos`"
            )
        return self.stack

    def bar(self, total: int, desc: str):
        """A tqdm progress bar (disabled without progress)."""
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit="shopper", leave=False, disable=not self.progress)


class Run:
    """One scenario's namespace and workers: ``with lab.run(fault) as run: ...``."""

    def __init__(self, lab: Lab, fault: str) -> None:
        from stream_app.stack.workerproc import WorkerProcess

        self.lab = lab
        self.fault = fault
        self.name = f"chaos-{lab.stamp}-{fault}"
        # one web port for all the run's workers: a restarted worker keeps the identity of the
        # one it replaces (the worker may derive its consumer group instance id from it)
        self.settings = replace(
            run_settings(lab.services, self.name, lab.workload.artifacts_dir),
            web_port=free_port(),
        )
        self.answers = Answers(self.settings.redis_url, self.name, lab.workload.users)
        self.workers: list[WorkerProcess] = []

    def __enter__(self) -> Run:
        from stream_app.stack import provision_topics

        provision_topics(self.settings)
        seed_answers(self.lab.workload.artifacts, self.settings)
        return self

    def __exit__(self, *exc: object) -> None:
        from stream_app.stack.workerproc import remove_run

        for worker in self.workers:
            worker.stop()
        with contextlib.suppress(ServiceError):  # a dead broker: its topics go with it
            remove_run(self.settings, say=lambda _line: None)
        from redis.exceptions import RedisError

        try:  # best effort, as remove_run: Redis may be the thing the scenario broke
            keys = list(self.answers.client.scan_iter(match=f"{self.name}:*", count=1000))
            if keys:
                self.answers.client.delete(*keys)
        except (RedisError, OSError):
            pass
        self.answers.close()

    # -- workers ------------------------------------------------------------------------
    def start_worker(self, *, own_port: bool = False):  # -> WorkerProcess
        """Start a worker on this run's settings: by default on the run's web port, so it takes
        the identity of the one it replaces (which must be gone); ``own_port`` gives it a web
        port, hence a group member identity, of its own (one of several workers at once)."""
        from stream_app.stack.workerproc import WorkerProcess

        n = len(self.workers) + 1
        log = self.lab.workdir / "logs" / f"{self.fault}-worker-{n}.log"
        settings = replace(self.settings, web_port=free_port()) if own_port else self.settings
        worker = WorkerProcess(settings, log).start()
        self.workers.append(worker)
        return worker

    @property
    def worker(self):  # -> WorkerProcess | None
        """The last worker started."""
        return self.workers[-1] if self.workers else None

    def alive(self) -> bool:
        """Whether any worker of the run is running."""
        return any(worker.alive() for worker in self.workers)

    # -- input --------------------------------------------------------------------------
    def publish(self, events: Sequence[Event]) -> None:
        """Publish ``events`` as fast as Kafka takes them (a backlog)."""
        from stream_app.tools.replay import Pace, publish

        publish(events, self.settings, pace=Pace(), total=len(events), progress=self.lab.progress)

    # -- observation --------------------------------------------------------------------
    def wait_current(
        self, last_ts: dict[int, int] | None = None, *, desc: str, stall_s: float | None = None
    ) -> float | None:
        """Seconds until every shopper's answer reflects their last event and the worker has
        committed all its input (see :mod:`stream_app.tools.chaos.lag`); None: never. With
        ``last_ts`` (a part of the events), only the answers count."""
        counter = current_count(self.lab.last_ts if last_ts is None else last_ts)
        return self._wait(counter, desc, stall_s, drained=last_ts is None)

    def wait_matching(self, *, desc: str, stall_s: float) -> float | None:
        """Seconds until every shopper's answer is current and the twin's, and the worker has
        committed all its input (None: never)."""
        counter = matching_count(self.lab.twin, self.lab.last_ts)
        return self._wait(counter, desc, stall_s, drained=True)

    def _wait(
        self, counter: Callable[[Got], int], desc: str, stall_s: float | None, *, drained: bool
    ) -> float | None:
        lag = GroupLag(self.settings)
        try:
            with self.lab.bar(len(self.answers.users), desc) as bar:
                return wait_until(
                    self.answers,
                    counter,
                    stall_s=self.lab.options.stall_s if stall_s is None else stall_s,
                    alive=self.alive,
                    drained=(lambda: lag.behind() == 0) if drained else (lambda: True),
                    bar=bar,
                )
        finally:
            lag.close()

    def dead_letters(self, *, expect: int = 0, quiet_s: float = 5.0) -> list[DeadLetter]:
        """The records on the run's dead-letter topic (read until ``expect`` of them came, or
        none for ``quiet_s``)."""
        from kafka import KafkaConsumer
        from kafka.errors import KafkaError

        try:
            consumer = KafkaConsumer(
                self.settings.topic_dead_letters,
                bootstrap_servers=self.settings.kafka_bootstrap.split(","),
                auto_offset_reset="earliest",
                enable_auto_commit=False,
                consumer_timeout_ms=int(quiet_s * 1000),
            )
        except KafkaError as exc:
            raise ServiceError(f"cannot read the dead letters: {exc}") from exc
        letters: list[DeadLetter] = []
        try:
            for message in consumer:
                letters.append(DeadLetter.from_bytes(message.value))
                if expect and len(letters) >= expect:
                    break
        finally:
            consumer.close()
        return letters

    def result(
        self,
        events: int,
        seconds: float | None,
        *,
        twin: dict[int, Recommendation] | None = None,
        dead_lettered: int | None = None,
        restarts: int = 0,
    ) -> ScenarioResult:
        """Read the answers once more, judge them against the twin and make the row."""
        try:
            got = self.answers.read()
        except ServiceError as exc:
            got = dict.fromkeys(self.answers.users)
            notes = [f"answers unreadable at the end: {exc}"]
        else:
            notes = []
        verdict = judge(got, self.lab.twin if twin is None else twin, self.lab.times)
        if dead_lettered is None:
            try:
                dead_lettered = len(self.dead_letters(quiet_s=2.0))
            except ServiceError:
                dead_lettered = -1
        result = ScenarioResult(
            fault=self.fault,
            events=events,
            shoppers=len(self.lab.times),
            differing=len(verdict.differing),
            lost=verdict.lost_events,
            dead_lettered=dead_lettered,
            restarts=restarts,
            seconds=seconds,
            notes=notes,
        )
        if verdict.differing:
            want = self.lab.twin if twin is None else twin
            result.extra["differing_shoppers"] = sorted(verdict.differing)[:20]
            result.extra["differing_examples"] = [
                _difference(user, got.get(user), want.get(user))
                for user in sorted(verdict.differing)[:3]
            ]
        if verdict.behind:
            result.extra["behind_shoppers"] = sorted(verdict.behind)[:20]
        if twin is None:  # every other surface too, against the twin of the same events
            self._judge_surfaces(result)
        if self.worker is not None and not self.worker.alive():
            result.notes.append(
                f"the worker had exited (code {self.worker.proc.returncode}); "
                f"log {self.worker.log_path}"
            )
        return result

    def _judge_surfaces(self, result: ScenarioResult) -> None:
        """Add to ``result`` the surface answers (``reco:{user}:{surface}``) that are not the
        twin's: a fault must not leave any surface differing from what the events imply."""
        from scorers.surfaces import DEFAULT_SURFACE, load_surfaces
        from stream_app.tools.chaos.observe import judge_surfaces

        names = [
            s.name for s in load_surfaces(self.settings.surfaces_path) if s.name != DEFAULT_SURFACE
        ]
        try:
            got = self.answers.read_surfaces(names)
        except ServiceError as exc:
            result.notes.append(f"surface answers unreadable at the end: {exc}")
            got = {(u, name): None for name in names for u in self.answers.users}
        differing = judge_surfaces(got, self.lab.surface_twin)
        result.extra["differing_surface_answers"] = len(differing)
        if differing:
            result.failed.append(f"{len(differing)} surface answers differ from the twin")
            result.extra["differing_surface_examples"] = [
                {
                    "surface": name,
                    **_difference(user, got[user, name], self.lab.surface_twin.get((user, name))),
                }
                for user, name in differing[:3]
            ]


def _difference(
    user: int, got: Recommendation | None, want: Recommendation | None
) -> dict[str, Any]:
    """One differing shopper, for the JSON report: both answers' items and event times."""

    def view(reco: Recommendation | None) -> dict[str, Any] | None:
        if reco is None:
            return None
        return {"items": [i.product_id for i in reco.items], "event_ts": reco.event_ts}

    return {"user": user, "redis": view(got), "twin": view(want)}
