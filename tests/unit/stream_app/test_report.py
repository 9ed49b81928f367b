"""stream_app.tools.report: index.html with the table and the PNG plots it references."""

from __future__ import annotations

import math
import re
from pathlib import Path

from stream_app.tools.report import write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def method(hr: float, start_ts: int | None = None) -> dict:
    xs = [start_ts + i * 3_600_000 for i in range(5)] if start_ts else list(range(0, 500, 100))
    return {
        "hr": hr,
        "mrr": hr / 2,
        "ndcg": hr * 0.6,
        "hr_ci": [hr - 0.02, hr + 0.02],
        "hr20": hr + 0.1,
        "next_basket_recall": hr / 3,
        "by_position": {"0": hr - 0.05, "1-2": hr, "3+": hr + 0.05},
        "by_history": {"<10": hr - 0.1, "10-29": hr, "30+": hr + 0.1},
        "by_repeat": {"repeat": hr + 0.2, "new": 0.01},
        "window_hr": [[x, hr + 0.01 * i] for i, x in enumerate(xs)],
    }


def referenced_images(page: str) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', page)


def test_full_result_gives_table_and_four_plots(tmp_path: Path) -> None:
    result = {
        "k": 10,
        "n_users": 382,
        "n_events": 2870,
        "methods": {
            "popularity": method(0.08),
            "personal_top": method(0.31),
            "streaming": {**method(0.4), "rescore_ms_p50": 0.21},
        },
    }
    index = write_report(result, tmp_path / "report")
    assert index == tmp_path / "report" / "index.html"
    page = index.read_text(encoding="utf-8")
    images = referenced_images(page)
    assert images == ["by_position.png", "by_history.png", "by_repeat.png", "window_hr.png"]
    for name in images:
        assert (index.parent / name).read_bytes().startswith(PNG_MAGIC)
    assert "<th>HR@10</th>" in page and "<th>rescore ms p50</th>" in page
    assert "<th>personal_top</th><td>0.31</td><td>[0.290, 0.330]</td>" in page
    assert "n_users: 382" in page


def test_window_x_label_is_used_for_non_time_axes(tmp_path: Path) -> None:
    result = {"window_x_label": "days since the first test event", "methods": {"a": method(0.3)}}
    index = write_report(result, tmp_path)
    assert "window_hr.png" in referenced_images(index.read_text())
    assert "window_x_label: days since the first test event" in index.read_text()


def test_window_hr_with_epoch_ms_is_plotted_as_time(tmp_path: Path) -> None:
    result = {"k": 10, "methods": {"streaming": method(0.4, start_ts=1_483_228_800_000)}}
    index = write_report(result, tmp_path)
    assert "window_hr.png" in referenced_images(index.read_text())


def test_missing_keys_are_tolerated(tmp_path: Path) -> None:
    result = {
        "methods": {
            "popularity": {"hr": 0.08, "mrr": math.nan},
            "cached": {"by_position": {"0": 0.3}},
            "odd": "not a dict",
        }
    }
    index = write_report(result, tmp_path)
    page = index.read_text()
    assert referenced_images(page) == ["by_position.png"]
    assert (tmp_path / "by_position.png").exists()
    assert not (tmp_path / "window_hr.png").exists()
    assert "<th>popularity</th><td>0.08</td><td>—</td>" in page


def test_empty_result_still_writes_a_page(tmp_path: Path) -> None:
    page = write_report({}, tmp_path).read_text()
    assert "No methods in the result." in page and "No plot data" in page


def test_surfaces_get_a_table_and_a_plot(tmp_path: Path) -> None:
    basket = {"hr": 0.1, "by_repeat": {"repeat": 0.12, "new": 0.051}, "rescore_ms_p50": 0.4}
    result = {
        "k": 10,
        "methods": {"streaming": method(0.38)},
        "surfaces": {
            "basket": {**basket, "baselines": {"cooc_raw": {"hr": 0.1, "by_repeat": {}}}},
            "buy_again": {"next_basket_recall": 0.3785, "baselines": {"personal_top": {}}},
        },
    }
    page = write_report(result, tmp_path).read_text(encoding="utf-8")
    assert "<h2>Surfaces (K = 10)</h2>" in page
    assert "<th>baseline: cooc_raw</th>" in page and "<td>0.051</td>" in page
    assert "<td>0.3785</td>" in page
    assert "surfaces.png" in referenced_images(page)
    assert (tmp_path / "surfaces.png").read_bytes().startswith(PNG_MAGIC)
