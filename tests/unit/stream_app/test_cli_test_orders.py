"""`build --test-orders N` builds from the history only; `import-instacart --test-orders N`
exports only the last N orders, so replaying them after the build counts nothing twice."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

import stream_app.cli.build as build_cmd
from loaders.catalog import load_catalog
from loaders.eventlog import read_event_log
from loaders.instacart import orders_to_events, read_orders
from stream_app.batch import BuildSummary
from stream_app.cli import main

FIXTURE = Path(__file__).parents[2] / "fixtures" / "instacart"
ORDERS = FIXTURE / "orders.csv"


def _last_order_ids(n: int) -> set[int]:
    by_user: dict[int, list] = defaultdict(list)
    for o in read_orders(ORDERS):
        by_user[o.user_id].append(o)
    return {
        o.order_id
        for history in by_user.values()
        for o in sorted(history, key=lambda o: o.order_number)[-n:]
    }


def _order_of(event) -> int:
    return int(event.event_id[1:].split("-")[0])  # "o<order_id>-a3" / "-c" / "-s2"


@pytest.mark.parametrize("n", [0, 1, 2])
def test_build_test_orders_leaves_out_each_users_last_orders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, n: int
) -> None:
    seen: list = []

    def fake_build_and_seed(orders, catalog, settings, *, out_dir=None, progress=True):
        seen.extend(orders)  # Redis is not needed to see what the build is fed
        return BuildSummary(0, len(catalog), len(orders), 0, 0.0, Path(out_dir))

    monkeypatch.setattr(build_cmd, "build_and_seed", fake_build_and_seed)
    argv = ["build", "--orders", str(ORDERS), "--catalog", str(FIXTURE),
            "--out", str(tmp_path / "art"), "--test-orders", str(n)]  # fmt: skip
    assert main(argv) == 0
    all_ids = {o.order_id for o in read_orders(ORDERS)}
    built_ids = {o.order_id for o in seen}
    expected = all_ids - _last_order_ids(n) if n else all_ids
    assert built_ids == expected
    assert len(seen) == len(built_ids)


def test_import_test_orders_exports_only_the_last_orders_timed_after_the_history(
    tmp_path: Path,
) -> None:
    out = tmp_path / "log.jsonl"
    argv = ["import-instacart", "--orders", str(ORDERS), "--catalog", str(FIXTURE),
            "--out", str(out), "--test-orders", "1", "--search-rate", "0.3"]  # fmt: skip
    assert main(argv) == 0
    events = list(read_event_log(out))
    last = _last_order_ids(1)
    assert {_order_of(e) for e in events} == last
    # the same events (ids and times) as in the full conversion: the users' clocks go on
    full = orders_to_events(read_orders(ORDERS), load_catalog(FIXTURE), search_rate=0.3)
    assert events == [e for e in full if _order_of(e) in last]


def test_negative_test_orders_is_an_argparse_error_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["import-instacart", "--orders", str(ORDERS), "--catalog", str(FIXTURE),
            "--out", str(tmp_path / "log.jsonl"), "--test-orders", "-1"]  # fmt: skip
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == (
        "stream-app import-instacart: error: argument --test-orders: must be 0 or more, got -1"
    )
    assert not (tmp_path / "log.jsonl").exists()
