"""Process plumbing for local services: addresses, port probes, pid files, start and stop.

A pid file records the pid, the kernel's start time of that process and a *marker* (a path
under our state dir that the process's command line or working directory contains). ``down``
only signals a pid whose start time and marker still match, so a recycled pid or a service
somebody else started is never touched.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from schemas.errors import ConfigError, ServiceError

__all__ = [
    "LOCAL_HOSTS",
    "Address",
    "OwnedProcess",
    "file_lock",
    "free_port",
    "port_open",
    "read_owned",
    "spawn",
    "stop",
    "tail",
]

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0", ""})


@dataclass(frozen=True)
class Address:
    """A ``host:port`` pair.

    >>> Address.parse("localhost:9092,other:9092")
    Address(host='localhost', port=9092)
    >>> Address.parse("kafka://[::1]:19092").port
    19092
    >>> Address.parse("localhost").port
    Traceback (most recent call last):
    ...
    schemas.errors.ConfigError: 'localhost' is not host:port
    """

    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Address:
        """The first address of a comma-separated bootstrap list (a scheme is ignored)."""
        first = text.split(",")[0].strip()
        if "://" in first:
            first = first.split("://", 1)[1]
        host, sep, port = first.rpartition(":")
        if not sep or not port.isdigit():
            raise ConfigError(f"{text!r} is not host:port")
        return cls(host.strip("[]") or "localhost", int(port))

    @property
    def is_local(self) -> bool:
        """Whether we could start a service on this address ourselves."""
        return self.host in LOCAL_HOSTS or self.host == socket.gethostname()

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def port_open(addr: Address, timeout_s: float = 1.0) -> bool:
    """Whether something accepts TCP connections at ``addr``."""
    try:
        with socket.create_connection((addr.host, addr.port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _start_time(pid: int) -> str | None:
    """The kernel start time (clock ticks since boot) of ``pid``, None if it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may contain spaces; fields after the last ')' are fixed
    rest = stat.rsplit(")", 1)[1].split()
    if rest[0] == "Z":  # a zombie is as good as gone
        return None
    return rest[19]


def _mentions(pid: int, marker: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return False
    return marker in cmdline or cwd == marker


@dataclass(frozen=True)
class OwnedProcess:
    """A process we started, as recorded in its pid file."""

    pid: int
    start_time: str
    marker: str

    def alive(self) -> bool:
        """Whether this very process (not a recycled pid) is still running."""
        return _start_time(self.pid) == self.start_time and _mentions(self.pid, self.marker)


def read_owned(pid_file: Path) -> OwnedProcess | None:
    """The process recorded in ``pid_file`` if it is still ours and alive; drops stale files."""
    try:
        data = json.loads(pid_file.read_text())
        proc = OwnedProcess(int(data["pid"]), str(data["start_time"]), str(data["marker"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        pid_file.unlink(missing_ok=True)
        return None
    if proc.alive():
        return proc
    pid_file.unlink(missing_ok=True)
    return None


def spawn(
    argv: Sequence[str], *, log_file: Path, pid_file: Path, marker: str, cwd: Path | None = None
) -> OwnedProcess:
    """Start ``argv`` detached (own session, stdin closed, output to ``log_file``)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        with log_file.open("ab") as out:
            popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                start_new_session=True,
            )
    except OSError as exc:
        raise ServiceError(f"cannot start {argv[0]}: {exc}") from exc
    start_time = _start_time(popen.pid)
    if start_time is None:
        raise ServiceError(f"{argv[0]} exited at once; see {log_file}")
    proc = OwnedProcess(popen.pid, start_time, marker)
    pid_file.write_text(
        json.dumps({"pid": proc.pid, "start_time": start_time, "marker": marker}) + "\n"
    )
    # the child outlives us: don't let Popen's finaliser warn about it
    popen.returncode = 0
    return proc


def _reap(pid: int) -> None:
    # when this very interpreter started the process (tests do), collect the zombie
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def stop(proc: OwnedProcess, pid_file: Path, *, grace_s: float = 30.0) -> bool:
    """SIGTERM our process, SIGKILL it after ``grace_s``; True if it had to be killed."""
    killed = False
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while proc.alive() and time.monotonic() < deadline:
            _reap(proc.pid)
            time.sleep(0.2)
        if proc.alive():
            os.kill(proc.pid, signal.SIGKILL)
            killed = True
            while proc.alive():
                _reap(proc.pid)
                time.sleep(0.1)
    _reap(proc.pid)
    pid_file.unlink(missing_ok=True)
    return killed


_HANDED_OUT: set[tuple[str, int]] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now on ``host``, never one this process was given
    before (the OS may hand a just-released port out again: two picks in a row once gave a
    broker and its controller the same port).

    >>> free_port() != free_port()
    True
    """
    while True:
        with socket.socket() as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
        if (host, port) not in _HANDED_OUT:
            _HANDED_OUT.add((host, port))
            return port


def tail(path: Path, lines: int = 5) -> str:
    """The last lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace").rstrip().splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock so two ``services up/down`` never race on the same state dir."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
