"""The faults: one function per scenario, ``scenario(lab) -> ScenarioResult``.

Every scenario runs on a fresh namespace (:meth:`Lab.run`) and ends by comparing each
shopper's answer in Redis with the offline twin's. "Time to current answers" is measured from:

============ ==========================================================================
clean, kill, the (first) worker start, with the whole backlog already in Kafka
fuzz, dup
broker       the moment the restarted broker answers again (the worker is not restarted)
redis-idle,  the moment the emptied Redis answers again; the answers must be the twin's
redis-mid
workers      the start of the paced replay, three workers in one group; one is SIGKILLed, one
             stopped cleanly mid-stream, the last finishes alone
============ ==========================================================================
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from stream_app.tools.chaos.lab import Lab, Run, ScenarioResult
from stream_app.tools.chaos.observe import event_times, judge
from stream_app.tools.chaos.publisher import PacedPublisher, produce_raw

__all__ = [
    "SCENARIOS",
    "broker",
    "clean",
    "dup",
    "fuzz",
    "kill",
    "redis_idle",
    "redis_mid",
    "workers",
]


def clean(lab: Lab) -> ScenarioResult:
    """No fault: publish the backlog, start the worker, wait, compare (the baseline)."""
    with lab.run("clean") as run:
        run.publish(lab.workload.events)
        run.start_worker()
        seconds = run.wait_current(desc="clean: current")
        return run.result(len(lab.workload.events), seconds)


def kill(lab: Lab) -> ScenarioResult:
    """SIGKILL the worker at random points of its drain of the backlog, restarting it at once.

    The kill points are random fractions (seeded) of the events reflected in Redis; a kill
    waits until the restarted worker has written its first answer, so every kill hits a worker
    that is consuming. Records the time from each restart to that first answer.
    """
    options = lab.options
    rng = random.Random(options.seed)
    points = sorted(rng.uniform(0.05, 0.95) for _ in range(options.kills))
    total = len(lab.workload.events)
    with lab.run("kill") as run:
        run.publish(lab.workload.events)
        started = time.monotonic()
        run.start_worker()
        restarts: list[dict[str, object]] = []
        pending: float | None = None  # wall ms of the restart awaiting its first answer
        pending_since = 0.0
        with lab.bar(options.kills, "kill: SIGKILLs") as bar:
            while run.alive():
                got = _read(run)
                done = _reflected(got, lab.times) / total
                if pending is not None:  # a restarted worker: has it written anything yet?
                    newest = max((a.updated_at for a in got.values() if a is not None), default=0)
                    if newest >= pending:
                        restarts[-1]["to_first_answer_s"] = round((newest - pending) / 1000, 2)
                        pending = None
                    elif time.monotonic() - pending_since > 2 * options.stall_s:
                        # it never answered (a restart may idle for a whole consumer session,
                        # 60 s by Faust's default, hence twice the stall limit)
                        break
                elif len(restarts) >= options.kills or done >= 1.0:
                    break
                elif done >= points[len(restarts)]:
                    _kill_and_restart(run)
                    pending, pending_since = time.time() * 1000, time.monotonic()
                    restarts.append({"at_fraction": round(done, 3), "to_first_answer_s": None})
                    bar.update(1)
                time.sleep(0.05)
        waited = run.wait_current(desc="kill: current")
        seconds = None if waited is None else time.monotonic() - started
        result = run.result(total, seconds, restarts=len(restarts))
    result.extra["restarts"] = restarts
    firsts = [r["to_first_answer_s"] for r in restarts]
    shown = ", ".join("never" if s is None else f"{s:.1f}" for s in firsts)
    result.notes.append(f"restart -> first new answer (s): {shown or '-'}")
    if len(restarts) < options.kills:
        result.notes.append(
            f"only {len(restarts)} of {options.kills} kills: the backlog drained (or the worker "
            "stopped answering) before the next kill point"
        )
    return result


def broker(lab: Lab) -> ScenarioResult:
    """SIGKILL the broker during a paced replay and restart it later; the worker is left alone.

    The broker stays down ``outage_s`` and comes back on the same data. The publisher holds its
    events while the broker is down (as an upstream buffer would) and sends what fell due once
    it is back.
    """
    stack = lab.need_stack("broker")
    options = lab.options
    events = lab.workload.events
    with lab.run("broker") as run:
        worker = run.start_worker()
        worker.wait_ready()
        publisher = PacedPublisher(events, run.settings, rate=len(events) / options.replay_s)
        publisher.start()
        _until(lambda: publisher.sent >= 0.35 * len(events) or not publisher.is_alive())
        publisher.pause()
        stack.kill("kafka")
        lab.say(
            f"   broker killed with {publisher.sent} events out; down for {options.outage_s:g} s"
        )
        time.sleep(options.outage_s)
        back_after = stack.restart("kafka")
        back = time.monotonic()
        lab.say(f"   broker answers again {back_after:.1f} s after its restart")
        publisher.resume()
        due = events[: publisher.due(back)]
        recovered = run.wait_current(_last_ts(due), desc="broker: current")
        publisher.join(timeout=options.replay_s * 2 + options.stall_s)
        run.wait_current(desc="broker: rest of the replay")
        alive = run.alive()
        result = run.result(publisher.sent, recovered)
    result.notes.append(
        f"the worker {'recovered by itself' if recovered is not None else 'did NOT recover'} "
        f"({'still running' if alive else 'exited'}); the broker answered "
        f"{back_after:.0f} s after its restart; {len(due):,} events were due by then"
    )
    result.extra["broker_restart_s"] = round(back_after, 1)
    if publisher.error is not None:
        result.failed.append(f"publisher: {publisher.error}")
    return result


def _redis(lab: Lab, fault: str, mid_stream: bool) -> ScenarioResult:
    stack = lab.need_stack(fault)
    options = lab.options
    events = lab.workload.events
    with lab.run(fault) as run:
        publisher = None
        if mid_stream:
            run.start_worker().wait_ready()
            publisher = PacedPublisher(events, run.settings, rate=len(events) / options.replay_s)
            publisher.start()
            _until(lambda: publisher.sent >= 0.4 * len(events) or not publisher.is_alive())
        else:
            run.publish(events)
            run.start_worker()
            before = run.wait_current(desc=f"{fault}: before")
            if before is None:
                run.lab.say(f"   {fault}: answers were not current before the fault")
        stack.kill("redis")
        stack.restart_empty()
        back = time.monotonic()
        lab.say(f"   Redis killed and restarted empty ({fault})")
        if publisher is not None:
            publisher.join(timeout=options.replay_s * 2 + options.stall_s)
        waited = run.wait_matching(desc=f"{fault}: answers back", stall_s=options.redis_wait_s)
        seconds = None if waited is None else time.monotonic() - back
        result = run.result(len(events), seconds)
        fallback = run.answers.has_fallback()
    result.extra["fallback_back"] = fallback
    if not fallback:
        result.failed.append("the global fallback key is not back")
    if publisher is not None and publisher.error is not None:
        result.failed.append(f"publisher: {publisher.error}")
    return result


def redis_idle(lab: Lab) -> ScenarioResult:
    """SIGKILL Redis after the stream and restart it empty: do the answers come back?"""
    return _redis(lab, "redis-idle", mid_stream=False)


def redis_mid(lab: Lab) -> ScenarioResult:
    """SIGKILL Redis in the middle of a paced replay and restart it empty."""
    return _redis(lab, "redis-mid", mid_stream=True)


def fuzz(lab: Lab) -> ScenarioResult:
    """Bad messages among the good events: each must be dead-lettered, no good one lost."""
    from stream_app.tools.chaos.fuzz import interleave

    n_bad = lab.options.bad
    unknown = len(lab.workload.artifacts.names) + 1_000_003  # past the last catalog id
    with lab.run("fuzz") as run:
        records = interleave(lab.workload.events, run.settings, n_bad, unknown, lab.options.seed)
        where = produce_raw(records, run.settings, progress=lab.progress)
        run.start_worker()
        seconds = run.wait_current(desc="fuzz: current")
        letters = run.dead_letters(expect=n_bad, quiet_s=10.0)
        bad = {w: r.bad for r, w in zip(records, where, strict=True) if r.bad}
        good = {w for r, w in zip(records, where, strict=True) if not r.bad}
        lettered = {(d.topic, d.partition, d.offset) for d in letters}
        result = run.result(len(records), seconds, dead_lettered=len(lettered & set(bad)))
    result.expected_dead_letters = len(bad)
    missed = sorted({bad[w] for w in set(bad) - lettered})
    wrong = len(lettered & good)
    if missed:
        result.failed.append(f"{len(set(bad) - lettered)} bad messages not dead-lettered")
        result.notes.append(f"kinds not dead-lettered: {', '.join(missed)}")
    if wrong:
        result.failed.append(f"{wrong} good events dead-lettered")
    result.notes.append(
        f"{len(records) - len(bad)} good events + {len(bad)} bad messages of "
        f"{len(set(bad.values()))} kinds"
    )
    return result


def dup(lab: Lab) -> ScenarioResult:
    """Publish a tenth of the events twice in a row, as a retrying producer would.

    Duplicates must be no-ops: the answers must equal the twin of the events without them.
    """
    events = lab.workload.events
    rng = random.Random(lab.options.seed)
    size = max(1, len(events) // 10)
    start = rng.randrange(0, len(events) - size + 1)
    sent = events[: start + size] + events[start : start + size] + events[start + size :]
    with lab.run("dup") as run:
        run.publish(sent)
        run.start_worker()
        seconds = run.wait_current(desc="dup: current")
        result = run.result(len(sent), seconds)
    offline = lab.workload.twin(sent, lab.services)
    drift = judge(offline, lab.twin, event_times(events)).differing
    result.notes.append(
        f"events {start}..{start + size - 1} published twice; the offline fold of the "
        f"duplicated log differs from the twin for {len(drift)} shoppers"
    )
    return result


def workers(lab: Lab) -> ScenarioResult:
    """Three workers in one group share a paced replay; at a third of it one is SIGKILLed, at
    two thirds another is stopped cleanly (SIGTERM), and the last finishes alone: their
    partitions, table state and answers move to the survivors, nothing lost, nothing twice."""
    options = lab.options
    events = lab.workload.events
    with lab.run("workers") as run:
        team = [run.start_worker(own_port=True) for _ in range(3)]
        for worker in team:
            worker.wait_ready()
        publisher = PacedPublisher(events, run.settings, rate=len(events) / options.replay_s)
        started = time.monotonic()
        publisher.start()
        _until(lambda: publisher.sent >= len(events) // 3 or not publisher.is_alive())
        killed_at = publisher.sent
        assert team[0].proc is not None
        team[0].proc.kill()
        team[0].proc.wait()
        lab.say(f"   worker 1 SIGKILLed with {killed_at:,} events out")
        _until(lambda: publisher.sent >= 2 * len(events) // 3 or not publisher.is_alive())
        stopped_at = publisher.sent
        code = team[1].stop()
        lab.say(f"   worker 2 stopped cleanly (exit {code}) with {stopped_at:,} events out")
        publisher.join(timeout=options.replay_s * 2 + options.stall_s)
        waited = run.wait_matching(desc="workers: current", stall_s=options.stall_s)
        seconds = None if waited is None else time.monotonic() - started
        result = run.result(publisher.sent, seconds)
        survivor = team[2].alive()
    result.notes.append(
        f"3 workers; SIGKILL at {killed_at:,} events, clean stop at {stopped_at:,} "
        f"(exit {code}); the third {'finished' if survivor else 'had EXITED'}"
    )
    if not survivor:
        result.failed.append("the surviving worker exited")
    if publisher.error is not None:
        result.failed.append(f"publisher: {publisher.error}")
    return result


SCENARIOS: dict[str, Callable[[Lab], ScenarioResult]] = {
    "clean": clean,
    "kill": kill,
    "broker": broker,
    "redis-idle": redis_idle,
    "redis-mid": redis_mid,
    "fuzz": fuzz,
    "dup": dup,
    "workers": workers,
}
"""Every fault by name, in the order a full run takes them."""


def _kill_and_restart(run: Run) -> None:
    """SIGKILL the run's worker, wait until it is gone, start the next one at once."""
    assert run.worker is not None and run.worker.proc is not None
    run.worker.proc.kill()
    run.worker.proc.wait()
    run.worker.stop()  # closes its log
    run.start_worker()


def _read(run: Run):
    """The answers, or everyone absent while Redis does not answer."""
    from schemas.errors import ServiceError

    try:
        return run.answers.read()
    except ServiceError:
        return dict.fromkeys(run.answers.users)


def _reflected(got, times: dict[int, list[int]]) -> int:
    """How many events the answers reflect (an event is reflected when its time is at most
    its shopper's answer's ``event_ts``)."""
    n = 0
    for user, ts in times.items():
        answer = got.get(user)
        if answer is not None:
            n += sum(1 for t in ts if t <= answer.event_ts)
    return n


def _last_ts(events) -> dict[int, int]:
    out: dict[int, int] = {}
    for e in events:
        out[e.user_id] = max(out.get(e.user_id, 0), e.ts)
    return out


def _until(condition: Callable[[], bool], timeout_s: float = 600.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)
