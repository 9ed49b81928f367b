"""Shared unit-test fixtures: the small Instacart fixture (25 users) and artifacts built from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.catalog import load_catalog
from schemas.instacart import read_orders, split_test_orders
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
