"""The bench's one screen: the results dict (what ``--json`` writes) as text (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["render"]


def _n(x: float | None, digits: int = 0) -> str:
    """A number with thousands separators; ``-`` when missing.

    >>> _n(12345.6), _n(0.1234, 2), _n(None)
    ('12,346', '0.12', '-')
    """
    return "-" if x is None else f"{x:,.{digits}f}"


def _bytes(x: float | None) -> str:
    """A byte size in B, KB or MB (1,024-based).

    >>> _bytes(512), _bytes(3_300), _bytes(190_000_000), _bytes(None)
    ('512 B', '3.2 KB', '181 MB', '-')
    """
    if x is None:
        return "-"
    if x < 1024:
        return f"{x:.0f} B"
    if x < 1024 * 1024:
        return f"{x / 1024:.1f} KB"
    return f"{x / 1024 / 1024:.0f} MB"


ALL = ("p50", "p90", "p99", "max")


def _pcts(s: Mapping[str, Any], unit: str, keys: tuple[str, ...] = ALL) -> str:
    if not s.get("n"):
        return "no values"
    return ", ".join(f"{k} {_n(s[k], 1 if s[k] < 100 else 0)} {unit}" for k in keys)


def _seconds(x: float | None) -> str:
    """Seconds, to the millisecond when short.

    >>> _seconds(0.0123), _seconds(61.31), _seconds(None)
    ('0.012', '61.3', '-')
    """
    return _n(x, 3 if x is not None and x < 1 else 1)


def _ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}x"


def _drain_line(name: str, d: Mapping[str, Any]) -> str:
    done = "" if d["answered"] == d["shoppers"] else f"  ({d['answered']}/{d['shoppers']} done)"
    return (
        f"  {name:<15}{_n(d['events_per_s']):>9} events/s  {_seconds(d['seconds']):>6} s  "
        f"{_n(d.get('cpu_s_per_1k_events'), 2):>5} CPU s/1k ev{done}"
    )


def _surfaces_line(costs: Mapping[str, Mapping[str, float]]) -> str:
    """Rescores per surface and the ranking time per event they add up to.

    >>> _surfaces_line({"default": {"rescores": 1398, "rank_ms": 700.0, "ms_per_event": 0.0127},
    ...                 "search": {"rescores": 90, "rank_ms": 50.0, "ms_per_event": 0.0009}})
    '  surfaces: default 1,398 + search 90 rescores; rank 0.014 ms per event (default 0.013)'
    """
    total = sum(c["ms_per_event"] for c in costs.values())
    rescores = " + ".join(f"{name} {_n(c['rescores'])}" for name, c in costs.items())
    default = costs.get("default")
    tail = f" (default {default['ms_per_event']:.3f})" if default and len(costs) > 1 else ""
    return f"  surfaces: {rescores} rescores; rank {total:.3f} ms per event{tail}"


def render(r: Mapping[str, Any]) -> str:
    """The screen of a finished (or partly finished) run."""
    c, b = r["conditions"], r["backlog"]
    lines = [
        f"stream-app bench  {r['when_utc']}  ({r['run']})",
        f"  machine: {c['cpus']} CPUs, load {c['load_1m']:.2f} at start; Kafka {c['kafka']}, "
        f"Redis {c['redis_version']}",
        f"  pipeline: {c['workers']} worker{'s' if c['workers'] != 1 else ''}, "
        f"{c['partitions']} partitions x 3 topics, batches of up to {c['batch_max']} (a fetch), "
        f"fetch wait {c['fetch_max_wait_ms']} ms",
        f"  backlog: {b['source']}",
        f"           {_n(b['events'])} events of {_n(b['shoppers'])} shoppers, {b['order']}, "
        f"published at {_n(b['publish_per_s'])}/s",
        "",
        "drain (first batch -> every shopper's answer reflects their last event)",
    ]
    d = r.get("drain")
    if d:
        lines.append(_drain_line("pipeline", d))
    for name, f in r.get("floors", {}).items():
        lines.append(
            _drain_line(f"floor: {name}", f)
            + f"  pipeline = {_ratio(f.get('pipeline_ratio'))} of it"
        )
    if d:
        gen = d.get("generation")
        lines.append(
            f"  pipeline: {_n(d.get('events_per_rescore'), 1)} events per rescore, "
            f"{_n(d.get('batches'))} batches (mean {_n(d.get('mean_batch'))} events)"
            + (f", {gen - 1} rebalance{'s' if gen != 2 else ''}" if gen else "")
        )
        if d.get("surfaces"):
            lines.append(_surfaces_line(d["surfaces"]))
    f = r.get("freshness")
    if f:
        lines += [
            "",
            f"freshness: {_n(f['events'])} events paced at {_n(f['rate'])}/s (sent at "
            f"{_n(f['sent_per_s'])}/s, answered at {_n(f.get('answered_per_s'))}/s)",
            f"  send -> answer in Redis: {_pcts(f['delay_ms'], 'ms')}",
            f"  {_n(f.get('events_per_rescore'), 1)} events per rescore; last answer "
            f"{_seconds(f.get('last_send_to_last_answer_s'))} s after the last send",
        ]
        if f.get("surfaces"):
            lines.append(_surfaces_line(f["surfaces"]))
        answered = f.get("answered_per_s")
        if answered and answered < 0.95 * f["sent_per_s"]:
            lines.append(
                "  (answers fell behind the pace: these delays are mostly the queue growing)"
            )
    rd = r.get("reads")
    if rd:
        target = "unpaced" if not rd["target_per_s"] else f"{_n(rd['target_per_s'])} reads/s asked"
        done = sum((rd[k].get("per_s") or 0) for k in ("library", "http"))
        lines.append(f"reads meanwhile: {rd['readers']} readers, {target}, {_n(done)}/s done")
        for kind, label in (("library", "serving.Reader"), ("http", "HTTP (serve)")):
            k = rd[kind]
            errors = f", {k['errors']} errors ({k['first_error']})" if k["errors"] else ""
            lines.append(
                f"  {label:<15}{_pcts(k['ms'], 'ms', ('p50', 'p99'))}  "
                f"({_n(k['reads'])} reads{errors})"
            )
    cost = r.get("cost")
    if cost:
        rss = [x for x in cost.get("peak_rss_bytes", []) if x]
        lines += [
            "",
            f"cost: {_n(cost.get('cpu_s_per_1k_events'), 2)} worker CPU s per 1,000 events "
            f"(drain); peak RSS {' + '.join(_bytes(x) for x in rss) or '-'}",
        ]
        for key, label in (("table_state_bytes", "table state"), ("redis_bytes", "Redis")):
            s = cost.get(key, {})
            if s.get("n"):
                lines.append(
                    f"  {label} per shopper: median {_bytes(s['median'])}, p90 "
                    f"{_bytes(s['p90'])}, max {_bytes(s['max'])} ({_n(s['n'])} shoppers)"
                )
    if r.get("incomplete"):
        lines += ["", "INCOMPLETE: " + "; ".join(r["incomplete"])]
    return "\n".join(lines)
