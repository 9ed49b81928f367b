"""A private Kafka + Redis for chaos runs: free ports, its own state dir, killable on purpose.

Chaos scenarios SIGKILL and restart the broker and Redis, so they never run against the
services the user configured (``STREAM_APP_KAFKA_BOOTSTRAP`` / ``STREAM_APP_REDIS_URL``): a
:class:`PrivateStack` starts its own pair through :func:`stream_app.stack.services_up` on
ports from :func:`~stream_app.stack.procs.free_port`, in a state dir of its own. A restart
reuses that state dir, so the broker comes back with its data; :meth:`PrivateStack.restart_empty`
brings Redis back empty whatever its persistence settings.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Literal

from schemas.errors import ServiceError
from stream_app.settings import Settings
from stream_app.stack import services_down, services_up
from stream_app.stack.kafka import KafkaLayout
from stream_app.stack.procs import OwnedProcess, free_port, read_owned
from stream_app.stack.redis import RedisLayout

__all__ = ["PrivateStack", "Service", "private_settings"]

Service = Literal["kafka", "redis"]


def private_settings(base: Settings, state_dir: Path) -> Settings:
    """``base`` moved onto fresh local ports and ``state_dir``: nothing of the user's.

    >>> s = private_settings(Settings(), Path("/tmp/x"))
    >>> s.kafka_bootstrap != Settings().kafka_bootstrap, s.state_dir
    (True, PosixPath('/tmp/x'))
    """
    return replace(
        base,
        kafka_bootstrap=f"localhost:{free_port()}",
        kafka_controller_port=free_port(),
        redis_url=f"redis://localhost:{free_port()}/0",
        state_dir=state_dir,
        web_port=free_port(),
    )


def _gone(pid: int) -> bool:
    """Whether ``pid`` has exited (no such process, or a zombie whose files are closed)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


class PrivateStack:
    """``stack = PrivateStack(base, dir); stack.up(); stack.kill("kafka"); stack.restart(...)``."""

    def __init__(self, base: Settings, state_dir: Path, say: Callable[[str], None]) -> None:
        self.settings = private_settings(base, Path(state_dir))
        self.say = say
        root = Path(state_dir).expanduser().resolve()
        self._pid_files = {
            "kafka": KafkaLayout(root / "kafka").pid_file,
            "redis": RedisLayout(root / "redis").pid_file,
        }

    def up(self) -> float:
        """Start both services; the seconds until both answered."""
        started = time.monotonic()
        services_up(self.settings, self.say, topics=False)
        return time.monotonic() - started

    def process(self, name: Service) -> OwnedProcess | None:
        """The running process of ``name`` we started, else None."""
        return read_owned(self._pid_files[name])

    def kill(self, name: Service) -> None:
        """SIGKILL ``name`` (no clean shutdown, as a crash or an OOM kill would do)."""
        proc = self.process(name)
        if proc is None:
            raise ServiceError(f"chaos: the private {name} is not running")
        os.kill(proc.pid, signal.SIGKILL)
        try:  # started by this process: wait for it like a parent
            os.waitpid(proc.pid, 0)
        except ChildProcessError:
            # not ours to wait for: poll until it is gone or a zombie (an exiting process
            # loses its /proc cwd before its sockets close, so `alive()` is not enough)
            deadline = time.monotonic() + 30
            while not _gone(proc.pid):
                if time.monotonic() > deadline:
                    raise ServiceError(
                        f"chaos: {name} (pid {proc.pid}) survived SIGKILL for 30 s"
                    ) from None
                time.sleep(0.05)
        self._pid_files[name].unlink(missing_ok=True)

    def restart(self, name: Service) -> float:
        """Start ``name`` again on the same port and state dir; seconds until it answered."""
        if self.process(name) is not None:
            raise ServiceError(f"chaos: the private {name} is still running; kill it first")
        return self.up()

    def restart_empty(self) -> float:
        """Start Redis again and empty it (``FLUSHALL``), as a Redis that lost its disk would
        come back: whatever persistence the services configure, the data is gone. Seconds
        until it answered."""
        import redis

        took = self.restart("redis")
        client = redis.Redis.from_url(self.settings.redis_url)
        try:
            client.flushall()
        except (redis.RedisError, OSError) as exc:
            raise ServiceError(f"chaos: cannot empty the restarted Redis: {exc}") from exc
        finally:
            client.close()
        return took

    def down(self) -> None:
        """Stop both (whatever state they are in); never raises for an already dead one."""
        services_down(self.settings, lambda _line: None)
