"""A `stream-app worker` subprocess: started with given settings, awaited until it consumes.

Used by ``stream-app demo``, ``stream-app bench`` and the integration tests. Readiness is
observed, not guessed: a probe checkout is produced and the worker is ready once the probe
user's answer appears in Redis (partitions assigned, table recovered, sink working).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import fields
from pathlib import Path
from typing import IO, Any

import orjson

from schemas.errors import ServiceError
from schemas.events import Checkout, encode
from stream_app.clock import wall_ms
from stream_app.serving import Reader
from stream_app.settings import ENV_PREFIX, Settings

__all__ = [
    "PROBE_USER",
    "ServeProcess",
    "WorkerProcess",
    "remove_run",
    "settings_env",
    "stop_child",
    "stop_on_sigterm",
    "tied_popen",
]

PROBE_USER = 999_999_999_001


def settings_env(settings: Settings) -> dict[str, str]:
    """``STREAM_APP_*`` variables that make a child process see exactly ``settings``."""
    out = {}
    for f in fields(settings):
        value = getattr(settings, f.name)
        out[ENV_PREFIX + f.name.upper()] = "" if value is None else str(value)
    return out


_PR_SET_PDEATHSIG = 1  # <sys/prctl.h>


def tied_popen(args: list[str], **kwargs: Any) -> subprocess.Popen:
    """``subprocess.Popen`` of a child that gets SIGTERM when this process dies, however it
    dies (a SIGKILLed demo or bench would otherwise leave its worker consuming from the shared
    broker and holding its web port). Linux ``prctl(PR_SET_PDEATHSIG)``; elsewhere a plain
    ``Popen``."""
    parent = os.getpid()

    def tie() -> None:  # runs in the child between fork and exec
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):  # not Linux: nothing to tie
            return
        if os.getppid() != parent:  # the parent died before the tie: do not outlive it
            os.kill(os.getpid(), signal.SIGTERM)

    return subprocess.Popen(args, preexec_fn=tie, **kwargs)


def stop_on_sigterm() -> None:
    """Turn SIGTERM into ``SystemExit(143)`` in this (main) thread, so that ``finally`` blocks
    run and stop the worker: for the demo and the bench, which start one."""

    def _exit(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)


class _Child:
    """A ``python -m stream_app COMMAND`` subprocess on ``settings``, its output in
    ``log_path``; stopped on exit of a ``with`` block."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.settings = settings
        self.log_path = Path(log_path)
        self.proc: subprocess.Popen | None = None
        self._log: IO[bytes] | None = None

    def _spawn(self, *command: str) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self.proc = tied_popen(
            [sys.executable, "-m", "stream_app", *command],
            env={**os.environ, **settings_env(self.settings)},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def start(self):  # -> Self
        """Spawn the process (subclasses: and wait as they say)."""
        raise NotImplementedError

    def __enter__(self):  # -> Self
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self, timeout_s: float = 20.0) -> int | None:
        """SIGTERM (then SIGKILL after ``timeout_s``); the exit code."""
        code = stop_child(self.proc, timeout_s)
        if self._log is not None:
            self._log.close()
            self._log = None
        return code


class WorkerProcess(_Child):
    """``with WorkerProcess(settings, log_path) as w: w.wait_ready()`` — stopped on exit."""

    def __init__(self, settings: Settings, log_path: Path, loglevel: str = "warning") -> None:
        super().__init__(settings, log_path)
        self.loglevel = loglevel

    def start(self) -> WorkerProcess:
        """Spawn ``python -m stream_app worker``."""
        self._spawn("worker", "--loglevel", self.loglevel)
        return self

    def alive(self) -> bool:
        """Whether the process is running."""
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout_s: float = 90.0) -> float:
        """Block until the worker turns a probe event into an answer; returns seconds waited."""
        from kafka import KafkaProducer

        started = time.monotonic()
        ts = wall_ms()
        producer = KafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap.split(","))
        try:
            producer.send(
                self.settings.topic_checkouts,
                key=str(PROBE_USER).encode(),
                value=encode(Checkout(f"probe-{ts}", PROBE_USER, ts)),
                timestamp_ms=ts,
            )
            producer.flush()
        finally:
            producer.close()
        reader = Reader.from_url(self.settings.redis_url, self.settings.reco_prefix)
        try:
            while True:
                served = reader.get(PROBE_USER)
                if not served.is_fallback and served.recommendation.event_ts >= ts:
                    reader.client.delete(f"{self.settings.reco_prefix}:{PROBE_USER}")
                    return time.monotonic() - started
                if not self.alive():
                    raise ServiceError(f"the worker exited; see {self.log_path}")
                if time.monotonic() - started > timeout_s:
                    raise ServiceError(
                        f"the worker did not answer a probe event in {timeout_s:.0f}s; "
                        f"see {self.log_path}"
                    )
                time.sleep(0.1)
        finally:
            reader.close()

    def stats(self) -> dict[str, int]:
        """The worker's counters (``GET /pipeline/stats``)."""
        url = f"http://{self.settings.web_host}:{self.settings.web_port}/pipeline/stats"
        with urllib.request.urlopen(url, timeout=5) as response:
            return orjson.loads(response.read())

    def wait_consumed(self, n_messages: int, timeout_s: float = 120.0) -> dict[str, int]:
        """Block until the worker has taken ``n_messages`` messages (valid or not) in total."""
        deadline = time.monotonic() + timeout_s
        while True:
            stats = self.stats()
            if stats["events"] + stats["dead_letters"] >= n_messages:
                return stats
            if not self.alive():
                raise ServiceError(f"the worker exited; see {self.log_path}")
            if time.monotonic() > deadline:
                raise ServiceError(f"worker consumed {stats} of {n_messages} in {timeout_s}s")
            time.sleep(0.05)


class ServeProcess(_Child):
    """A `stream-app serve` subprocess on ``settings.web_port``; stopped on exit."""

    def start(self, timeout_s: float = 30.0) -> ServeProcess:
        """Spawn it and wait until ``GET /healthz`` answers."""
        self._spawn("serve")
        assert self.proc is not None
        url = f"http://{self.settings.web_host}:{self.settings.web_port}/healthz"
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(url, timeout=1):
                    return self
            except OSError:
                if self.proc.poll() is not None:
                    raise ServiceError(f"stream-app serve exited; see {self.log_path}") from None
                if time.monotonic() > deadline:
                    raise ServiceError(
                        f"stream-app serve did not answer in {timeout_s:.0f}s; see {self.log_path}"
                    ) from None
                time.sleep(0.1)


def stop_child(proc: subprocess.Popen | None, timeout_s: float = 20.0) -> int | None:
    """SIGTERM a child process, SIGKILL it after ``timeout_s``; its exit code (None: none)."""
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def remove_run(settings: Settings, say=print) -> None:
    """Best effort: delete a run's topics (inputs, dead letters, Faust's internal ones) and its
    Faust data folder, so throw-away runs (demo, bench, tests) leave nothing behind."""
    import shutil

    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    from stream_app.worker.app import datadir, internal_topics

    names = [*settings.provisioned_topics(), *internal_topics(settings)]
    try:
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap.split(","))
        try:
            existing = set(admin.list_topics())
            doomed = [n for n in names if n in existing]
            if doomed:
                admin.delete_topics(doomed)
        finally:
            admin.close()
    except KafkaError as exc:
        say(f"   (could not delete the run's topics: {exc})")
    shutil.rmtree(datadir(settings).parent, ignore_errors=True)  # every worker's folder
