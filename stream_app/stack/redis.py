"""A local Redis: ``redis-server`` from PATH with a generated config and production persistence.

Persistence is what a production Redis would have, its files under the state dir
(``<state_dir>/redis/``): the append-only file (``appendonly yes``, ``appendfsync everysec``;
``appendonlydir/`` with Redis 7) plus RDB snapshots at Redis's default points (``save 3600 1
300 100 60 10000``, ``dump.rdb``). So a restarted Redis comes back with the answers, the
fallback and the worker's marker (:mod:`stream_app.worker.rematerialise`).

Why the worker still rebuilds: persistence narrows the loss, it does not remove it.
``everysec`` fsyncs once a second (an OS crash or power cut loses up to a second or two of
writes; a ``kill -9`` of Redis loses nothing it acknowledged, already written to the OS), a
failover to a replica loses what was not replicated, and ``FLUSHDB``/``FLUSHALL``, a restart
without the files, or eviction remove answers outright. The worker notices (marker hash gone,
or Redis's ``run_id`` changed) and writes every answer it owns again. In production, set
``maxmemory-policy noeviction`` (writes fail and the worker retries) or a ``volatile-*``
policy (only keys with a TTL are evicted; answer keys have none): an ``allkeys-*`` policy
silently drops answers, and the worker notices only if the marker goes too.

When ``redis-server`` is missing and we run as root on Debian/Ubuntu, the ``redis-server``
apt package is installed (``apt-get update`` first); otherwise the error says what to install.
The Debian package's own systemd unit is not used: we run the binary ourselves, in the
foreground of a detached process whose pid file lives under the state dir.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from schemas.errors import ServiceError, StreamAppError
from stream_app.stack.procs import Address, OwnedProcess, spawn

__all__ = [
    "RDB_FILE",
    "RedisLayout",
    "find_redis_server",
    "redis_answers",
    "redis_config",
    "start_redis",
]

RDB_FILE = "dump.rdb"
"""The RDB snapshot, under :attr:`RedisLayout.root`."""


@dataclass(frozen=True)
class RedisLayout:
    """Where one local Redis keeps its files (all under the state dir)."""

    root: Path

    @property
    def conf(self) -> Path:
        """The generated ``redis.conf``."""
        return self.root / "redis.conf"

    @property
    def log(self) -> Path:
        """The server log."""
        return self.root / "redis.log"

    @property
    def pid_file(self) -> Path:
        """Pid file of the server we started."""
        return self.root / "redis.pid"


def find_redis_server(
    say: Callable[[str], None] = print, *, policy_rc_d: str = "/usr/sbin/policy-rc.d"
) -> str:
    """Path of ``redis-server``; installs the Debian package when root and it is missing.

    The install starts no service (a temporary ``policy_rc_d``, unless one exists) and, on
    systemd, disables the system unit it enabled: the only Redis is the one we start.
    """
    found = shutil.which("redis-server")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt and os.geteuid() == 0:
        say("redis: redis-server not found; installing the redis-server package with apt-get...")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        had_binary = Path("/usr/bin/redis-server").exists()
        # the package would start (and enable) the system Redis, with persistence, on 6379;
        # a policy-rc.d that exits 101 is Debian's way to block service starts during install
        policy = Path(policy_rc_d)
        ours = not policy.exists()
        if ours:
            policy.write_text(
                "#!/bin/sh\n# stream-app: no service starts while apt installs\nexit 101\n"
            )
            policy.chmod(0o755)
        try:
            for cmd in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", "redis-server"]):
                done = subprocess.run(
                    cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True
                )
                if done.returncode != 0:
                    raise ServiceError(
                        f"`{' '.join(cmd[1:])}` failed: "
                        f"{(done.stderr or done.stdout).strip()[-300:]}"
                    )
        finally:
            if ours:
                policy.unlink(missing_ok=True)
        systemctl = shutil.which("systemctl")
        unit = "redis-server.service"
        if not had_binary and systemctl:
            enabled = subprocess.run(
                [systemctl, "is-enabled", "--quiet", unit],
                stdin=subprocess.DEVNULL,
                capture_output=True,
            )
            if enabled.returncode == 0:
                say(f"redis: disabling the system {unit} the package enabled (we run our own)")
                off = subprocess.run(
                    [systemctl, "disable", "--now", "--quiet", unit],
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                )
                if off.returncode != 0:
                    say(f"redis: could not disable {unit}: {off.stderr.strip()[-200:]}")
        found = shutil.which("redis-server") or (
            "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
        )
        if found:
            return found
    raise ServiceError(
        "redis-server is not on PATH: install Redis >= 6 "
        "(Debian/Ubuntu: `sudo apt-get install redis-server`, macOS: `brew install redis`)"
    )


def redis_config(layout: RedisLayout, addr: Address) -> str:
    """The ``redis.conf`` of our Redis: address, files under ``layout.root``, persistence."""
    bind = "127.0.0.1 -::1" if addr.host in {"localhost", "127.0.0.1", "::1"} else "0.0.0.0"
    return "\n".join(
        [
            "# generated by `stream-app services up`; rewritten on every start",
            f"port {addr.port}",
            f"bind {bind}",
            "protected-mode yes",
            "daemonize no",
            f"dir {layout.root.resolve()}",
            f"logfile {layout.log.resolve()}",
            # production persistence (see the module docstring): AOF fsynced every second, and
            # RDB snapshots at Redis's default points, both in ``dir``
            "appendonly yes",
            "appendfsync everysec",
            "save 3600 1 300 100 60 10000",
            f"dbfilename {RDB_FILE}",
            "",
        ]
    )


def start_redis(
    layout: RedisLayout, addr: Address, say: Callable[[str], None] = print
) -> OwnedProcess:
    """Write the config and start ``redis-server`` (not waiting for it)."""
    binary = find_redis_server(say)
    layout.root.mkdir(parents=True, exist_ok=True)
    layout.conf.write_text(redis_config(layout, addr))
    # redis rewrites its process title, so the marker is its working dir (``dir`` above)
    return spawn(
        [binary, str(layout.conf.resolve())],
        log_file=layout.root / "stdout.log",
        pid_file=layout.pid_file,
        marker=str(layout.root.resolve()),
        cwd=layout.root,
    )


def redis_answers(url: str, timeout_s: float = 2.0) -> dict | None:
    """``{"version": ...}`` if a Redis server answers PING at ``url``, else None."""
    import redis

    from stream_app.redisconn import sync_client

    client = sync_client(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    try:
        if not client.ping():
            return None
        info = client.info("server")
        if "redis_version" not in info:  # a cluster: {node: info} of every node
            info = next(iter(info.values()), {})
        return {"version": str(info.get("redis_version", "?"))}
    except (redis.RedisError, OSError, ValueError, StreamAppError):
        return None
    finally:
        client.close()
