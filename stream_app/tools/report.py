"""HTML report of an evaluation run: a results table and matplotlib plots (PNG, Agg backend).

:func:`write_report` takes the result dict of ``stream-app eval`` (``--json`` shape)::

    {"k": 10, "n_users": .., "n_events": .., "methods": {name: {
        "hr": .., "mrr": .., "ndcg": .., "hr_ci": [lo, hi], "hr20": .., "next_basket_recall": ..,
        "by_position": {"0": hr, "1-2": hr, "3+": hr},
        "by_history": {"<10": hr, "10-29": hr, "30+": hr},
        "by_repeat": {"repeat": hr, "new": hr},
        "window_hr": [[event_index_or_ts, hr], ...]}}}

plus, optionally, ``"surfaces": {name: {"hr", "by_repeat", "next_basket_recall",
"rescore_ms_p50", "baselines": {name: {...}}}}`` (each surface beside its baselines: a table, and
a bar plot of HR@K on repeat vs never-bought adds per surface answer and baseline),
and writes ``index.html`` plus one PNG per plot that has data: HR@K by cart position, by history
length and by repeat/new target (grouped bars, one colour per method), and the sliding-window
HR over replay time (one line per method; x values above 10^12 are read as epoch ms, others are
labelled with the result's optional ``"window_x_label"``, e.g. "days since the first test event").
Every key is optional: a missing number shows as "—", a plot without data is left out.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from schemas.errors import ConfigError, InvalidData

__all__ = ["write_report"]

_SLICES = (
    ("by_position", "by cart position", ("0", "1-2", "3+")),
    ("by_history", "by history length (orders before)", ("<10", "10-29", "30+")),
    ("by_repeat", "repeat vs never-bought target", ("repeat", "new")),
)
_COLUMNS = (
    ("hr", "HR@{k}"),
    ("hr_ci", "HR@{k} 95% CI"),
    ("mrr", "MRR@{k}"),
    ("ndcg", "NDCG@{k}"),
    ("hr20", "HR@20"),
    ("next_basket_recall", "next-basket Recall@{k}"),
    ("rescore_ms_p50", "rescore ms p50"),
    ("rescore_ms_p90", "rescore ms p90"),
)
_EPOCH_MS = 10**12


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return None if math.isnan(value) else float(value)


def _fmt(value: Any) -> str:
    if isinstance(value, list | tuple) and len(value) == 2:
        lo, hi = _number(value[0]), _number(value[1])
        return "—" if lo is None or hi is None else f"[{lo:.3f}, {hi:.3f}]"
    number = _number(value)
    return "—" if number is None else f"{number:.4f}".rstrip("0").rstrip(".") or "0"


def _labels(methods: Mapping[str, Mapping[str, Any]], key: str, known: Sequence[str]) -> list[str]:
    seen = {label for m in methods.values() for label in (m.get(key) or {})}
    return [x for x in known if x in seen] + sorted(seen.difference(known), key=str)


def _bar_plot(
    methods: Mapping[str, Mapping[str, Any]], key: str, title: str, k: int, path: Path
) -> bool:
    labels = _labels(methods, key, dict((s[0], s[2]) for s in _SLICES).get(key, ()))
    series = {
        name: [_number((m.get(key) or {}).get(label)) for label in labels]
        for name, m in methods.items()
        if isinstance(m.get(key), Mapping) and m.get(key)
    }
    if not labels or not series:
        return False
    fig, ax = _figure()
    width = 0.8 / len(series)
    for i, (name, values) in enumerate(series.items()):
        xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(labels))]
        ax.bar(xs, [v if v is not None else 0.0 for v in values], width, label=name)
    ax.set_xticks(range(len(labels)), [str(label) for label in labels])
    ax.set_ylabel(f"HR@{k}")
    ax.set_title(f"HR@{k} {title}")
    ax.set_ylim(bottom=0)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small")
    _save(fig, path)
    return True


def _window_plot(
    methods: Mapping[str, Mapping[str, Any]], k: int, path: Path, x_label: str
) -> bool:
    series: dict[str, tuple[list[Any], list[float]]] = {}
    for name, m in methods.items():
        points = [
            (x, y)
            for p in (m.get("window_hr") or [])
            if isinstance(p, list | tuple) and len(p) == 2
            for x, y in [(_number(p[0]), _number(p[1]))]
            if x is not None and y is not None
        ]
        if points:
            points.sort()
            series[name] = ([p[0] for p in points], [p[1] for p in points])
    if not series:
        return False
    as_time = all(min(xs) > _EPOCH_MS for xs, _ in series.values())
    fig, ax = _figure()
    for name, (xs, ys) in series.items():
        if as_time:
            xs = [datetime.fromtimestamp(x / 1000, tz=UTC) for x in xs]
        ax.plot(xs, ys, label=name, linewidth=1.2)
    ax.set_xlabel("replay time (event time, UTC)" if as_time else x_label)
    ax.set_ylabel(f"HR@{k}")
    ax.set_title(f"Sliding-window HR@{k} over the replay")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    if as_time:
        fig.autofmt_xdate()
    _save(fig, path)
    return True


def _figure() -> tuple[Any, Any]:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ConfigError("the report needs matplotlib: pip install -e '.[report]'") from exc
    fig = Figure(figsize=(7.5, 4.2), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _save(fig: Any, path: Path) -> None:
    try:
        fig.savefig(path, format="png")
    except OSError as exc:
        raise InvalidData(f"{path}: cannot write plot ({exc.strerror})") from exc


def _images(figures: Sequence[tuple[str, str]]) -> str:
    return "".join(
        f'<figure><img src="{html.escape(src)}" alt="{html.escape(alt)}">'
        f"<figcaption>{html.escape(alt)}</figcaption></figure>"
        for src, alt in figures
    )


def _table(methods: Mapping[str, Mapping[str, Any]], k: int) -> str:
    present = [(key, label) for key, label in _COLUMNS if any(key in m for m in methods.values())]
    head = "".join(f"<th>{html.escape(label.format(k=k))}</th>" for _, label in present)
    rows = [
        f"<tr><th>{html.escape(str(name))}</th>"
        + "".join(f"<td>{html.escape(_fmt(m.get(key)))}</td>" for key, _ in present)
        + "</tr>"
        for name, m in methods.items()
    ]
    return f"<table><tr><th>method</th>{head}</tr>{''.join(rows)}</table>"


_SURFACE_COLUMNS = (
    ("hr", "HR@{k}"),
    ("repeat", "HR@{k} repeat"),
    ("new", "HR@{k} never bought"),
    ("next_basket_recall", "next-basket Recall@{k}"),
    ("rescore_ms_p50", "ms per shopper p50"),
)


def _surface_rows(surfaces: Mapping[str, Any]) -> list[tuple[str, str, Mapping[str, Any]]]:
    """``(surface, answer, figures)``: each surface's own row, then its baselines'."""
    rows: list[tuple[str, str, Mapping[str, Any]]] = []
    for name, m in surfaces.items():
        if not isinstance(m, Mapping):
            continue
        rows.append((str(name), str(name), m))
        baselines = m.get("baselines")
        for base, b in baselines.items() if isinstance(baselines, Mapping) else []:
            if isinstance(b, Mapping):
                rows.append((str(name), str(base), b))
    return rows


def _surface_table(surfaces: Mapping[str, Any], k: int) -> str:
    head = "".join(f"<th>{html.escape(label.format(k=k))}</th>" for _, label in _SURFACE_COLUMNS)
    body = []
    for surface, answer, m in _surface_rows(surfaces):
        by_repeat = m.get("by_repeat") if isinstance(m.get("by_repeat"), Mapping) else {}
        values = {**m, "repeat": by_repeat.get("repeat"), "new": by_repeat.get("new")}
        own = surface == answer
        body.append(
            f"<tr><th>{html.escape(surface if own else '')}</th>"
            f"<th>{html.escape(answer if own else 'baseline: ' + answer)}</th>"
            + "".join(
                f"<td>{html.escape(_fmt(values.get(key)))}</td>" for key, _ in _SURFACE_COLUMNS
            )
            + "</tr>"
        )
    return f"<table><tr><th>surface</th><th>answer</th>{head}</tr>{''.join(body)}</table>"


def _surface_plot(surfaces: Mapping[str, Any], k: int, path: Path) -> bool:
    """HR@K on repeat and never-bought adds of every surface answer and baseline."""
    bars = [
        (f"{surface}" if surface == answer else f"{surface}: {answer}", m["by_repeat"])
        for surface, answer, m in _surface_rows(surfaces)
        if isinstance(m.get("by_repeat"), Mapping)
    ]
    if not bars:
        return False
    fig, ax = _figure()
    ys = range(len(bars))
    for offset, key in ((-0.2, "repeat"), (0.2, "new")):
        values = [_number(b.get(key)) or 0.0 for _, b in bars]
        ax.barh([y + offset for y in ys], values, 0.4, label=key)
    ax.set_yticks(list(ys), [label for label, _ in bars], fontsize="small")
    ax.invert_yaxis()
    ax.set_xlabel(f"HR@{k}")
    ax.set_title(f"HR@{k} of each surface on repeat vs never-bought adds")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize="small")
    _save(fig, path)
    return True


def write_report(result: Mapping[str, Any], out_dir: Path) -> Path:
    """Write ``index.html`` and its PNG plots into ``out_dir``; returns the HTML path.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> page = write_report({"k": 10, "methods": {"popularity": {"hr": 0.08}}}, d)
    >>> page.name, "0.08" in page.read_text()
    ('index.html', True)
    """
    if not isinstance(result, Mapping):
        raise InvalidData("an eval result must be a JSON object")
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidData(f"{out_dir}: cannot create the report folder ({exc.strerror})") from exc
    k = result.get("k") if isinstance(result.get("k"), int) else 10
    raw_methods = result.get("methods")
    methods: dict[str, Mapping[str, Any]] = {
        str(name): m
        for name, m in (raw_methods.items() if isinstance(raw_methods, Mapping) else [])
        if isinstance(m, Mapping)
    }
    figures: list[tuple[str, str]] = []
    for key, title, _known in _SLICES:
        if _bar_plot(methods, key, title, k, out_dir / f"{key}.png"):
            figures.append((f"{key}.png", f"HR@{k} {title}"))
    x_label = result.get("window_x_label")
    x_label = x_label if isinstance(x_label, str) and x_label else "replay progress"
    if _window_plot(methods, k, out_dir / "window_hr.png", x_label):
        figures.append(("window_hr.png", f"Sliding-window HR@{k} over replay time"))
    raw_surfaces = result.get("surfaces")
    surfaces = raw_surfaces if isinstance(raw_surfaces, Mapping) else {}
    surface_figures = []
    if _surface_plot(surfaces, k, out_dir / "surfaces.png"):
        surface_figures.append(("surfaces.png", f"HR@{k} of each surface, repeat vs never bought"))

    facts = [
        f"<li>{html.escape(str(key))}: {html.escape(str(value))}</li>"
        for key, value in result.items()
        if key not in ("methods", "surfaces") and isinstance(value, str | int | float | bool)
    ]
    images = _images(figures)
    surface_section = (
        f"<h2>Surfaces (K = {k})</h2>\n{_surface_table(surfaces, k)}\n{_images(surface_figures)}"
        if _surface_rows(surfaces)
        else ""
    )
    try:
        options = orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
        raw = orjson.dumps(result, option=options).decode()
    except TypeError:  # orjson.JSONEncodeError: a value JSON cannot hold; show it as Python
        raw = repr(result)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>stream-app evaluation</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; max-width: 70em; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: right; }}
tr > th:first-child {{ text-align: left; }}
figure {{ display: inline-block; margin: 0.5em; }}
img {{ max-width: 100%; }}
pre {{ background: #f6f6f6; padding: 1em; overflow: auto; }}
</style></head><body>
<h1>Prequential evaluation</h1>
<ul>{"".join(facts)}</ul>
<h2>Results (K = {k})</h2>
{_table(methods, k) if methods else "<p>No methods in the result.</p>"}
<h2>Plots</h2>
{images or "<p>No plot data in the result.</p>"}
{surface_section}
<details><summary>Raw result</summary><pre>{html.escape(raw)}</pre></details>
</body></html>
"""
    index = out_dir / "index.html"
    try:
        index.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise InvalidData(f"{index}: cannot write the report ({exc.strerror})") from exc
    return index
