"""Shared unit-test fixtures: the small Instacart fixture (25 users) and artifacts built from it."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from loaders.catalog import load_catalog
from loaders.instacart import read_orders, split_test_orders
from scorers import build_artifacts

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "instacart"


@pytest.fixture(scope="session")
def catalog():
    return load_catalog(FIXTURE)


@pytest.fixture(scope="session")
def orders():
    return read_orders(FIXTURE / "orders.csv")


@pytest.fixture(scope="session")
def train_orders(orders):
    return split_test_orders(orders, 1)[0]


@pytest.fixture(scope="session")
def artifacts(train_orders, catalog):
    return build_artifacts(train_orders, catalog)


@pytest.fixture(scope="session")
def fixture_dir() -> Path:
    """The folder of the small Instacart fixture (orders.csv + catalog files)."""
    return FIXTURE


def write_release(merged: Path, catalog_dir: Path, out: Path) -> Path:
    """Write the orders of a merged orders CSV in the public release's layout into ``out``.

    As in the release: ``orders.csv`` sorted by user and order number, hours written ``08``,
    gaps ``15.0``; ``order_products__*.csv`` sorted by order and cart position. Every other
    user's last order is a ``train`` order (the rest ``prior``), and every third user gets a
    ``test`` order after their last one (no products, as in the release), which readers skip.
    """
    with merged.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    orders: dict[int, dict[str, str]] = {}
    for r in rows:
        orders.setdefault(int(r["order_id"]), r)
    by_user: dict[int, list[dict[str, str]]] = {}
    for r in sorted(orders.values(), key=lambda r: (int(r["user_id"]), int(r["order_number"]))):
        by_user.setdefault(int(r["user_id"]), []).append(r)
    eval_set: dict[int, str] = {}
    order_rows: list[list[object]] = []
    next_id = max(orders) + 1
    for i, (user, history) in enumerate(by_user.items()):
        for j, r in enumerate(history):
            last = j == len(history) - 1
            kind = "train" if last and i % 2 == 0 else "prior"
            eval_set[int(r["order_id"])] = kind
            days = r["days_since_prior_order"]
            order_rows.append([r["order_id"], user, kind, r["order_number"], r["order_dow"],
                               f"{int(r['order_hour_of_day']):02d}",
                               f"{float(days):.1f}" if days else ""])  # fmt: skip
        if i % 3 == 0:
            number = int(history[-1]["order_number"]) + 1
            order_rows.append([next_id, user, "test", number, 3, "09", "7.0"])
            next_id += 1
    out.mkdir(parents=True, exist_ok=True)
    with (out / "orders.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["order_id", "user_id", "eval_set", "order_number", "order_dow",
                    "order_hour_of_day", "days_since_prior_order"])  # fmt: skip
        w.writerows(order_rows)
    for kind in ("prior", "train"):
        part = [r for r in rows if eval_set[int(r["order_id"])] == kind]
        part.sort(key=lambda r: (int(r["order_id"]), int(r["add_to_cart_order"])))
        with (out / f"order_products__{kind}.csv").open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["order_id", "product_id", "add_to_cart_order", "reordered"])
            w.writerows(
                [r["order_id"], r["product_id"], r["add_to_cart_order"], r["reordered"]]
                for r in part
            )
    for name in ("products.csv", "aisles.csv", "departments.csv"):
        shutil.copyfile(catalog_dir / name, out / name)
    return out


@pytest.fixture(scope="session")
def release_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture's orders in the public release's layout (catalog included), written once."""
    return write_release(FIXTURE / "orders.csv", FIXTURE, tmp_path_factory.mktemp("release"))
