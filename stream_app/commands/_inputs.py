"""Arguments shared by the commands that read an orders file and a catalog."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_orders_and_catalog"]


def add_orders_and_catalog(p: argparse.ArgumentParser) -> None:
    """Add the required ``--orders CSV`` and ``--catalog DIR`` arguments."""
    p.add_argument(
        "--orders",
        type=Path,
        required=True,
        metavar="CSV",
        help="orders file, one row per product in an order (orders_dev.csv format)",
    )
    p.add_argument(
        "--catalog",
        type=Path,
        required=True,
        metavar="DIR",
        help="folder with products.csv, aisles.csv and departments.csv",
    )
