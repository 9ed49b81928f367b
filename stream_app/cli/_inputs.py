"""Arguments shared by the commands that read Instacart orders and a catalog.

``--orders`` is a merged orders CSV (``orders_dev.csv`` format) or a folder in the public
release's layout (``orders.csv``, ``order_products__prior.csv``, ``order_products__train.csv``
and the catalog files); ``--catalog`` defaults to that folder. Commands call
:func:`resolve_inputs` before any work, so a wrong combination fails at once.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from loaders.instacart import check_release_folder
from schemas.errors import ConfigError

__all__ = ["CATALOG_HELP", "ORDERS_HELP", "add_orders_and_catalog", "resolve_inputs"]

ORDERS_HELP = (
    "orders in Instacart format: a CSV with one row per product in an order (orders_dev.csv "
    "format), or a folder in the public Instacart release's layout (orders.csv, "
    "order_products__prior.csv, order_products__train.csv, products.csv, aisles.csv, "
    "departments.csv), read as a stream"
)
CATALOG_HELP = (
    "folder with products.csv, aisles.csv and departments.csv (default: --orders when it is "
    "a release folder)"
)


def add_orders_and_catalog(p: argparse.ArgumentParser) -> None:
    """Add the required ``--orders PATH`` and the ``--catalog DIR`` arguments."""
    p.add_argument("--orders", type=Path, required=True, metavar="PATH", help=ORDERS_HELP)
    p.add_argument("--catalog", type=Path, default=None, metavar="DIR", help=CATALOG_HELP)


def resolve_inputs(args: argparse.Namespace) -> None:
    """Check ``--orders`` / ``--catalog`` together and fill in the catalog's default.

    A release folder must hold its order files (and the catalog files when ``--catalog`` is
    not given, which then defaults to the folder); a CSV needs ``--catalog``.

    >>> import tempfile
    >>> ns = argparse.Namespace(orders=Path("orders.csv"), catalog=None)
    >>> resolve_inputs(ns)
    Traceback (most recent call last):
    ...
    schemas.errors.ConfigError: --catalog DIR is required when --orders is a file (orders.csv)
    >>> ns = argparse.Namespace(orders=Path(tempfile.mkdtemp()), catalog=Path("cat"))
    >>> resolve_inputs(ns)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    schemas.errors.InvalidData: ...: not an Instacart release folder: missing orders.csv, ...
    """
    orders: Path = args.orders
    if orders.is_dir():
        check_release_folder(orders, catalog=args.catalog is None)
        if args.catalog is None:
            args.catalog = orders
    elif args.catalog is None:
        raise ConfigError(f"--catalog DIR is required when --orders is a file ({orders})")
