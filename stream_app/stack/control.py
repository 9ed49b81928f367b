"""`services up | down | status` for the whole local stack: Kafka, Redis and the input topics.

``up`` reuses whatever healthy Kafka/Redis already answers at the configured address, starts
what is missing, and returns only when both answer (Kafka: a metadata request; Redis: PING).
``down`` stops only what ``up`` started, identified by pid files under the state dir.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from schemas.errors import ConfigError, ServiceError
from stream_app.redisconn import cluster_url, is_cluster_url
from stream_app.settings import Settings
from stream_app.stack.kafka import (
    KafkaLayout,
    kafka_answers,
    resolve_jars,
    start_kafka,
)
from stream_app.stack.procs import (
    Address,
    OwnedProcess,
    file_lock,
    port_open,
    read_owned,
    stop,
    tail,
)
from stream_app.stack.redis import (
    RedisLayout,
    find_redis_server,
    redis_answers,
    start_redis,
)
from stream_app.stack.rediscluster import (
    ClusterLayout,
    cluster_answers,
    form_cluster,
    node_ports,
    start_cluster_nodes,
    stop_cluster,
)
from stream_app.stack.topics import ensure_topics, topic_partitions

__all__ = [
    "ServiceReport",
    "provision_topics",
    "services_down",
    "services_status",
    "services_up",
]

Say = Callable[[str], None]


@dataclass(frozen=True)
class ServiceReport:
    """What one service is doing after ``up``/``down``/``status``."""

    name: str
    address: str
    state: str
    """``started``, ``running`` (ours), ``reused`` (not ours), ``stopped``, ``absent``,
    ``foreign`` (the port answers but not as this service)."""
    pid: int | None = None
    log: Path | None = None

    @property
    def answering(self) -> bool:
        """Whether the service answers at its address."""
        return self.state in {"started", "running", "reused"}


def provision_topics(settings: Settings, timeout_s: float = 30.0) -> list[str]:
    """Create the missing :meth:`Settings.provisioned_topics` co-partitioned, with
    ``settings.topic_configs()`` (no time-based retention: replayed records carry old event
    times); the created names."""
    return ensure_topics(
        settings.kafka_bootstrap,
        settings.provisioned_topics(),
        settings.partitions,
        timeout_s=timeout_s,
        configs=settings.topic_configs(),
    )


def _layouts(settings: Settings) -> tuple[Path, KafkaLayout, RedisLayout]:
    state = settings.state_dir.expanduser().resolve()
    return state, KafkaLayout(state / "kafka"), RedisLayout(state / "redis")


def _redis_addr(url: str) -> Address:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return Address(parts.hostname or "localhost", parts.port or 6379)


def _recorded_address(name: str, klayout: KafkaLayout, rlayout: RedisLayout) -> Address | None:
    """Where our last started Kafka/Redis listens, from the config ``up`` wrote for it."""
    try:
        if name == "kafka":
            for line in klayout.properties.read_text().splitlines():
                if line.startswith("advertised.listeners="):
                    return Address.parse(line.split("=", 1)[1])
        else:
            for line in rlayout.conf.read_text().splitlines():
                if line.startswith("port "):
                    return Address("localhost", int(line.split()[1]))
    except (OSError, ValueError, ServiceError, ConfigError):
        return None
    return None


def _same_place(a: Address, b: Address) -> bool:
    return a.port == b.port and (a.host == b.host or (a.is_local and b.is_local))


_ADDRESS_VARIABLES = {"kafka": "STREAM_APP_KAFKA_BOOTSTRAP", "redis": "STREAM_APP_REDIS_URL"}


def _check_same_address(settings: Settings, klayout: KafkaLayout, rlayout: RedisLayout) -> None:
    """``up`` with other addresses than the ones our running services were started on would
    wait for a service that is not there (and a second broker cannot share the data dir)."""
    for name, pid_file, addr, configured in (
        (
            "kafka",
            klayout.pid_file,
            Address.parse(settings.kafka_bootstrap),
            settings.kafka_bootstrap,
        ),
        ("redis", rlayout.pid_file, _redis_addr(settings.redis_url), settings.redis_url),
    ):
        proc = read_owned(pid_file)
        where = _recorded_address(name, klayout, rlayout) if proc is not None else None
        if where is not None and not _same_place(where, addr):
            raise ServiceError(
                f"{name}: ours (pid {proc.pid}) already runs at {where}, but "
                f"{_ADDRESS_VARIABLES[name]} is {configured}; set it back, or stop ours first "
                "(`stream-app services down` with the settings it was started with)"
            )


def _controller_port(settings: Settings, broker: Address) -> int:
    port = settings.kafka_controller_port or broker.port + 1
    if port == broker.port:
        raise ConfigError(
            f"STREAM_APP_KAFKA_CONTROLLER_PORT={port} is the broker's port too "
            f"(STREAM_APP_KAFKA_BOOTSTRAP={settings.kafka_bootstrap}): the KRaft controller "
            "needs a port of its own (0 means the broker port + 1)"
        )
    return port


def _show(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _why(log: Path) -> str:
    """The most telling line at the end of a log: the last ERROR, else the last line."""
    lines = [line.strip() for line in tail(log, 200).splitlines() if line.strip()]
    errors = [line for line in lines if "ERROR" in line or "Exception" in line]
    return (errors or lines or ["(empty log)"])[-1][:400]


def _wait(
    name: str,
    probe: Callable[[], dict | None],
    addr: Address,
    proc: OwnedProcess | None,
    log: Path,
    deadline: float,
    say: Say,
) -> dict:
    started = time.monotonic()
    next_note = started + 15
    while True:
        if port_open(addr, 0.5):
            info = probe()
            if info is not None:
                return info
        if proc is not None and not proc.alive():
            raise ServiceError(
                f"{name} exited during start-up: {_why(log)} (see {_show(log)}; "
                "`stream-app services down --purge` starts over from empty data)"
            )
        now = time.monotonic()
        if now > deadline:
            raise ServiceError(
                f"{name} did not answer at {addr} in time (STREAM_APP_SERVICE_TIMEOUT_S); "
                f"see {_show(log)}"
            )
        if now > next_note:
            say(f"{name}: still waiting for {addr} to answer ({now - started:.0f} s)...")
            next_note = now + 15
        time.sleep(0.3)


def services_up(
    settings: Settings, say: Say = print, *, topics: bool = True, redis_cluster: bool = False
) -> list[ServiceReport]:
    """Start (or reuse) Kafka and Redis and provision the input topics; idempotent.

    ``redis_cluster`` (implied by a ``redis+cluster://`` URL): instead of one Redis, a local
    three-master Redis Cluster on the URL's port and the next two
    (:mod:`stream_app.stack.rediscluster`).
    """
    state, _, _ = _layouts(settings)
    started: list[tuple[OwnedProcess, Path]] = []
    cluster = redis_cluster or is_cluster_url(settings.redis_url)
    with file_lock(state / "services.lock"):
        try:
            return _up_locked(settings, say, topics, started, cluster)
        except BaseException:
            # a failed or interrupted `up` leaves nothing of its own behind
            for proc, pid_file in started:
                stop(proc, pid_file, grace_s=10)
            raise


def _up_locked(
    settings: Settings,
    say: Say,
    topics: bool,
    started: list[tuple[OwnedProcess, Path]],
    cluster: bool = False,
) -> list[ServiceReport]:
    _, klayout, rlayout = _layouts(settings)
    kaddr = Address.parse(settings.kafka_bootstrap)
    raddr = _redis_addr(settings.redis_url)
    t0 = time.monotonic()
    deadline = t0 + settings.service_timeout_s

    # --- decide, then start what is missing (both start before we wait for either) ---
    if not cluster:
        _check_same_address(settings, klayout, rlayout)
    single_missing = read_owned(rlayout.pid_file) is None and not port_open(raddr)
    if cluster or (single_missing and raddr.is_local):
        find_redis_server(say)  # fail (or apt-get install) before a JVM is started
    kproc = read_owned(klayout.pid_file)
    kstate = "running" if kproc else "reused"
    if kproc is None and not port_open(kaddr):
        ctrl = Address(kaddr.host, _controller_port(settings, kaddr))
        if not kaddr.is_local:
            raise ServiceError(
                f"no Kafka answers at {kaddr} and it is not a local address we can start"
            )
        if port_open(ctrl):
            raise ServiceError(
                f"Kafka controller port {ctrl.port} is taken by another process; "
                "free it or set STREAM_APP_KAFKA_CONTROLLER_PORT"
            )
        libs = resolve_jars(settings.kafka_version, settings.cache_dir, settings.kafka_home, say)
        say(
            f"kafka: starting a single-node KRaft broker on {kaddr} "
            f"(controller {ctrl.port}, jars {_show(libs)})..."
        )
        t0 = time.monotonic()
        deadline = t0 + settings.service_timeout_s
        kproc = start_kafka(klayout, libs, kaddr, ctrl.port, settings.partitions, say)
        started.append((kproc, klayout.pid_file))
        kstate = "started"
    elif kproc is None and kafka_answers(settings.kafka_bootstrap) is None:
        raise ServiceError(
            f"port {kaddr.port} is taken by something that is not Kafka (no answer to a "
            f"metadata request at {kaddr}); stop it or set STREAM_APP_KAFKA_BOOTSTRAP"
        )

    if cluster:
        rreport = _cluster_up(settings, say, started, deadline)
    else:
        rproc = read_owned(rlayout.pid_file)
        rstate = "running" if rproc else "reused"
        if rproc is None and not port_open(raddr):
            if not raddr.is_local:
                raise ServiceError(
                    f"no Redis answers at {raddr} and it is not a local address we can start"
                )
            say(f"redis: starting redis-server on {raddr}...")
            rproc = start_redis(rlayout, raddr, say)
            started.append((rproc, rlayout.pid_file))
            rstate = "started"
        elif rproc is None and redis_answers(settings.redis_url) is None:
            raise ServiceError(
                f"port {raddr.port} is taken by something that is not a usable Redis (no PONG "
                f"at {settings.redis_url}); stop it or set STREAM_APP_REDIS_URL"
            )
        # --- wait until both answer ------------------------------------------------------
        rinfo = _wait(
            "redis",
            lambda: redis_answers(settings.redis_url),
            raddr,
            rproc,
            rlayout.log,
            deadline,
            say,
        )
        rreport = ServiceReport(
            "redis",
            settings.redis_url,
            rstate,
            rproc.pid if rproc else None,
            rlayout.log if rproc else None,
        )
        say(_up_line(rreport, f"Redis {rinfo['version']}"))
    klog = klayout.logs / "server.log"
    kinfo = _wait(
        "kafka",
        lambda: kafka_answers(settings.kafka_bootstrap),
        kaddr,
        kproc,
        klog if kproc else klayout.logs / "stdout.log",
        deadline,
        say,
    )
    kreport = ServiceReport(
        "kafka",
        settings.kafka_bootstrap,
        kstate,
        kproc.pid if kproc else None,
        klog if kproc else None,
    )
    took = f", answered after {time.monotonic() - t0:.1f} s" if kstate == "started" else ""
    say(_up_line(kreport, f"cluster {kinfo.get('cluster_id')}{took}"))

    if topics:
        names = settings.provisioned_topics()
        created = provision_topics(settings, timeout_s=settings.service_timeout_s)
        verb = f"created {', '.join(created)}" if created else "present"
        say(f"topics: {verb} ({len(names)} topics x {settings.partitions} partitions)")
    return [kreport, rreport]


def _cluster_up(
    settings: Settings, say: Say, started: list[tuple[OwnedProcess, Path]], deadline: float
) -> ServiceReport:
    """Start (or reuse) the local three-master cluster on the URL's port and the next two."""
    state, _, _ = _layouts(settings)
    layout = ClusterLayout(state / "redis-cluster")
    raddr = _redis_addr(settings.redis_url)
    ports = node_ports(raddr.port)
    url = (
        settings.redis_url
        if is_cluster_url(settings.redis_url)
        else cluster_url(raddr.host, raddr.port)
    )
    ours = {p for p in ports if read_owned(layout.node(p).pid_file) is not None}
    if not ours and cluster_answers(raddr.host, ports) is not None:
        report = ServiceReport("redis", url, "reused")
        say(_up_line(report, "Redis Cluster"))
        return report
    taken = [p for p in ports if p not in ours and port_open(Address(raddr.host, p))]
    if taken:
        raise ServiceError(
            f"redis-cluster: ports {taken} are taken by something that is not our cluster; "
            "free them or choose another port in STREAM_APP_REDIS_URL"
        )
    if not raddr.is_local:
        raise ServiceError(f"no Redis Cluster answers at {raddr} and it is not local")
    missing = [p for p in ports if p not in ours]
    if missing:
        say(f"redis-cluster: starting redis-server nodes on ports {missing}...")
    for proc, port in zip(
        start_cluster_nodes(layout, raddr.host, missing, say), missing, strict=True
    ):
        started.append((proc, layout.node(port).pid_file))
    form_cluster(raddr.host, ports, timeout_s=max(1.0, deadline - time.monotonic()))
    info = cluster_answers(raddr.host, ports) or {"version": "?"}
    first = read_owned(layout.node(ports[0]).pid_file)
    report = ServiceReport(
        "redis",
        url,
        "started" if missing else "running",
        first.pid if first else None,
        layout.node(ports[0]).log,
    )
    say(_up_line(report, f"Redis {info['version']} cluster, 3 masters on ports {ports}"))
    if url != settings.redis_url:
        say(f"redis-cluster: the app uses it with STREAM_APP_REDIS_URL={url}")
    return report


def _up_line(report: ServiceReport, what: str) -> str:
    if report.state == "reused":
        return (
            f"{report.name}: reusing the {what} already answering at {report.address} "
            "(not started by stream-app; `down` leaves it alone)"
        )
    verb = "started" if report.state == "started" else "already running"
    log = f"; log: {_show(report.log)}" if report.log else ""
    return f"{report.name}: {verb} at {report.address} (pid {report.pid}, {what}){log}"


def services_down(
    settings: Settings, say: Say = print, *, purge: bool = False
) -> list[ServiceReport]:
    """Stop the Kafka and Redis that ``up`` started (pid files); never anything else.

    With ``purge`` also delete their data and logs (``<state_dir>/kafka``, ``.../redis``), so
    the next ``up`` starts from an empty, freshly formatted broker.
    """
    state, klayout, rlayout = _layouts(settings)
    reports: list[ServiceReport] = []
    with file_lock(state / "services.lock"):
        for name, address, pid_file, log in (
            ("kafka", settings.kafka_bootstrap, klayout.pid_file, klayout.logs / "server.log"),
            ("redis", settings.redis_url, rlayout.pid_file, rlayout.log),
        ):
            proc = read_owned(pid_file)
            if proc is None:
                say(f"{name}: nothing started by stream-app is running (state dir {_show(state)})")
                reports.append(ServiceReport(name, address, "absent"))
                continue
            t0 = time.monotonic()
            killed = stop(proc, pid_file)
            how = "killed after the grace period" if killed else "stopped"
            say(f"{name}: {how} pid {proc.pid} in {time.monotonic() - t0:.1f} s; log: {_show(log)}")
            reports.append(ServiceReport(name, address, "stopped", proc.pid, log))
        clayout = ClusterLayout(state / "redis-cluster")
        if stop_cluster(clayout, say):
            reports.append(ServiceReport("redis-cluster", str(clayout.root), "stopped"))
        if purge:
            if clayout.root.exists():
                shutil.rmtree(clayout.root)
                say(f"purged {_show(clayout.root)}")
            for layout in (klayout, rlayout):
                if layout.root.exists():
                    shutil.rmtree(layout.root)
                    say(f"purged {_show(layout.root)}")
    return reports


def services_status(settings: Settings, say: Say = print) -> list[ServiceReport]:
    """What runs where: ours (with pid and log), somebody else's, or nothing."""
    _, klayout, rlayout = _layouts(settings)
    checks = (
        (
            "kafka",
            settings.kafka_bootstrap,
            Address.parse(settings.kafka_bootstrap),
            klayout.pid_file,
            klayout.logs / "server.log",
            lambda: kafka_answers(settings.kafka_bootstrap),
        ),
        (
            "redis",
            settings.redis_url,
            _redis_addr(settings.redis_url),
            rlayout.pid_file,
            rlayout.log,
            lambda: redis_answers(settings.redis_url),
        ),
    )
    reports = []
    cluster = is_cluster_url(settings.redis_url)
    if cluster:
        checks = checks[:1]  # the cluster's nodes are reported below
    for name, address, addr, pid_file, log, probe in checks:
        proc = read_owned(pid_file)
        info = probe() if port_open(addr) else None
        where = _recorded_address(name, klayout, rlayout) if proc is not None else None
        if where is not None and not _same_place(where, addr):
            # ours runs, but elsewhere than the settings say: name the mismatch, not a hang
            report = ServiceReport(name, address, "reused" if info else "absent", proc.pid, log)
            variable = _ADDRESS_VARIABLES[name]
            text = f"ours (pid {proc.pid}) runs at {where}, but {variable} is {address}"
            if info is not None:
                text += f"; something not started by stream-app answers at {addr}"
        elif info is not None and proc is not None:
            report = ServiceReport(name, address, "running", proc.pid, log)
            text = (
                f"running at {address} (started by stream-app, pid {proc.pid}); log: {_show(log)}"
            )
        elif info is not None:
            report = ServiceReport(name, address, "reused")
            text = f"answering at {address} (not started by stream-app)"
        elif proc is not None:
            report = ServiceReport(name, address, "absent", proc.pid, log)
            text = f"pid {proc.pid} (ours) is running but does not answer yet at {address}"
        elif port_open(addr):
            report = ServiceReport(name, address, "foreign")
            text = f"port {addr.port} is taken by something that is not {name}"
        else:
            report = ServiceReport(name, address, "absent")
            text = f"not running (expected at {address}); start it with `stream-app services up`"
        say(f"{name}: {text}")
        reports.append(report)
    clayout = ClusterLayout(settings.state_dir.expanduser().resolve() / "redis-cluster")
    if cluster:
        raddr = _redis_addr(settings.redis_url)
        ports = node_ports(raddr.port)
        ours = [p for p in ports if read_owned(clayout.node(p).pid_file) is not None]
        info = cluster_answers(raddr.host, ports)
        state = ("running" if ours else "reused") if info else "absent"
        text = {
            "running": f"Redis Cluster (3 masters on {ports}, started by stream-app) answering",
            "reused": f"Redis Cluster answering on {ports} (not started by stream-app)",
            "absent": f"no Redis Cluster answers on {ports}; start it with "
            "`stream-app services up --redis-cluster`",
        }[state]
        say(f"redis: {text} at {settings.redis_url}")
        reports.append(ServiceReport("redis", settings.redis_url, state))
    for port in clayout.started_ports():
        proc = read_owned(clayout.node(port).pid_file)
        if proc is not None:
            say(
                f"redis-cluster: node on port {port} running "
                f"(started by stream-app, pid {proc.pid})"
            )
    if reports[0].answering:
        try:
            parts = topic_partitions(settings.kafka_bootstrap)
        except ServiceError as exc:
            say(f"topics: cannot list ({exc})")
        else:
            shown = ", ".join(
                f"{t}={parts.get(t, 'missing')}" for t in settings.provisioned_topics()
            )
            say(f"topics (partitions): {shown}")
    return reports
