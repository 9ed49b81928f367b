"""The synthetic shoppers of `stream-app scale`: real histories under new ids, events from them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from features.state import UserState
from loaders.catalog import load_catalog
from loaders.instacart import read_orders
from scorers import Artifacts, build_artifacts
from scorers.seeds import SeedFile, write_seeds
from stream_app.settings import Settings
from stream_app.tools.scale import CLONE_BASE, cloned_seeds, synthetic_events
from stream_app.worker.store import store_url

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "instacart"


@pytest.fixture(scope="module")
def art() -> Artifacts:
    return build_artifacts(read_orders(FIXTURE / "orders.csv"), load_catalog(FIXTURE))


def test_clones_are_the_real_shoppers_states_under_new_ids(art: Artifacts, tmp_path: Path) -> None:
    known = art.known_users()
    n = len(known) * 2 + 3
    assert write_seeds(tmp_path, cloned_seeds(art, n)) == n
    seeds = SeedFile.open(tmp_path)
    assert list(seeds) == list(range(CLONE_BASE, CLONE_BASE + n))
    for i in (0, len(known) - 1, len(known), n - 1):
        clone = UserState.from_bytes(seeds[CLONE_BASE + i])
        original = art.seed_state(known[i % len(known)])
        assert clone == replace(original, user_id=CLONE_BASE + i)


def test_events_are_cart_adds_of_each_clones_history_after_it(art: Artifacts) -> None:
    known = art.known_users()
    events = list(synthetic_events(art, len(known) + 1, 2))
    assert len(events) == 2 * (len(known) + 1)
    assert len({e.event_id for e in events}) == len(events)
    last = events[-1]
    original = art.seed_state(known[0])
    assert last.user_id == CLONE_BASE + len(known)
    assert last.product_id in set(original.history.pid)
    assert last.ts > original.last_ts


def test_seed_file_refuses_ids_out_of_order_and_a_mismatched_blob(tmp_path: Path) -> None:
    from schemas.errors import InvalidData

    with pytest.raises(ValueError, match="ascend"):
        write_seeds(tmp_path, [(5, b"a"), (3, b"b")])
    write_seeds(tmp_path, [(3, b"abc")])
    (tmp_path / "states.bin").write_bytes(b"ab")
    with pytest.raises(InvalidData, match="rebuild"):
        SeedFile.open(tmp_path)


def test_table_store_setting_is_checked() -> None:
    from schemas.errors import ConfigError

    assert Settings().table_store == "rocksdb"
    assert Settings.from_env({"STREAM_APP_TABLE_STORE": "memory"}).table_store == "memory"
    with pytest.raises(ConfigError, match="rocksdb or memory"):
        Settings.from_env({"STREAM_APP_TABLE_STORE": "redis"})
    with pytest.raises(ValueError, match="unknown table store"):
        store_url("disk")
