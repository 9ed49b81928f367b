"""`stream-app import-instacart` on the fixture: a log that reads back, a summary, errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from loaders.catalog import load_catalog
from loaders.eventlog import read_event_log
from loaders.instacart import orders_to_events, read_orders
from schemas.events import Search
from stream_app.cli import main

FIXTURE = Path(__file__).parents[2] / "fixtures" / "instacart"


def test_import_writes_the_converted_events_and_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sub" / "log.jsonl"
    argv = ["import-instacart", "--orders", str(FIXTURE / "orders.csv"), "--catalog",
            str(FIXTURE), "--out", str(out), "--search-rate", "0.3", "--seed", "4"]  # fmt: skip
    assert main(argv) == 0
    catalog = load_catalog(FIXTURE)
    expected = orders_to_events(
        read_orders(FIXTURE / "orders.csv"), catalog, search_rate=0.3, seed=4
    )
    assert list(read_event_log(out, catalog)) == expected
    stdout = capsys.readouterr().out
    n_searches = sum(isinstance(e, Search) for e in expected)
    assert re.search(r"^users +25$", stdout, re.MULTILINE)
    assert re.search(rf"^synthetic searches +{n_searches:,}$", stdout, re.MULTILINE)
    assert re.search(r"^time span +2017-01-0", stdout, re.MULTILINE)


def test_users_option_keeps_the_first_users(tmp_path: Path) -> None:
    out = tmp_path / "log.jsonl"
    argv = ["import-instacart", "--orders", str(FIXTURE / "orders.csv"), "--catalog",
            str(FIXTURE), "--out", str(out), "--users", "3"]  # fmt: skip
    assert main(argv) == 0
    users = {e.user_id for e in read_event_log(out)}
    first3 = sorted({o.user_id for o in read_orders(FIXTURE / "orders.csv")})[:3]
    assert sorted(users) == first3


def test_bad_input_is_one_line_error_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "orders.csv"
    bad.write_text((FIXTURE / "orders.csv").read_text().replace(",196,", ",x96,", 1))
    argv = ["import-instacart", "--orders", str(bad), "--catalog", str(FIXTURE),
            "--out", str(tmp_path / "log.jsonl")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("stream-app import-instacart: error: ") and "orders.csv:" in err
    assert not (tmp_path / "log.jsonl").exists()
