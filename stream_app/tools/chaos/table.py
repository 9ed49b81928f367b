"""The chaos table (one row per fault) and its JSON form."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from stream_app.tools.chaos.lab import ScenarioResult

__all__ = ["HEADER", "LEGEND", "format_table", "to_json"]

LEGEND = """\
differing: shoppers whose answer in Redis is not the offline twin's (items, order, scores, reasons)
events lost: events newer than their shopper's answer (all of them when the answer is missing)
time to current: clean, kill, fuzz, dup: from the (first) worker start; broker: from the broker's
  return until the answers reflect what was due by then; redis-*: from Redis's return until
  every answer is the twin's; never: nothing improved for the --timeout"""

HEADER = (
    "fault",
    "events",
    "shoppers",
    "differing",
    "events lost",
    "dead-lettered",
    "worker restarts",
    "time to current (s)",
    "ok",
)


def _count(n: int) -> str:
    """A count, or ``?`` when the scenario could not measure it (-1)."""
    return f"{n:,}" if n >= 0 else "?"


def _row(r: ScenarioResult) -> tuple[str, ...]:
    lettered = _count(r.dead_lettered)
    if r.expected_dead_letters:
        lettered += f"/{r.expected_dead_letters}"
    seconds = "never" if r.seconds is None else f"{r.seconds:.1f}"
    return (
        r.fault,
        f"{r.events:,}",
        f"{r.shoppers:,}",
        _count(r.differing),
        _count(r.lost),
        lettered,
        str(r.restarts),
        seconds,
        "yes" if r.ok else "NO",
    )


def format_table(results: Sequence[ScenarioResult]) -> str:
    """The results as an aligned text table, with each fault's notes underneath.

    >>> r = ScenarioResult("kill", 1200, 25, 3, 10, 0, 4, None, notes=["restart -> ..."])
    >>> lines = format_table([r]).splitlines()
    >>> lines[0].split("  ")[:4]
    ['fault', 'events', 'shoppers', 'differing']
    >>> lines[2].split()
    ['kill', '1,200', '25', '3', '10', '0', '4', 'never', 'NO']
    >>> lines[-1]
    '  kill: restart -> ...'
    """
    rows = [HEADER, *(_row(r) for r in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = [
        f"  {r.fault}: {text}" for r in results for text in (*r.failed, *r.notes) if text.strip()
    ]
    out = [line.rstrip() for line in lines]
    if notes:
        out += ["", *notes]
    return "\n".join(out)


def to_json(results: Sequence[ScenarioResult], run: dict[str, Any]) -> dict[str, Any]:
    """Everything measured, for ``--json``: the run's parameters and one object per fault."""
    return {
        **run,
        "ok": all(r.ok for r in results),
        "faults": [{**asdict(r), "ok": r.ok} for r in results],
    }
