"""Instacart order files and their conversion into a shopper event stream.

Orders come in one of two forms. A merged orders file (``orders_dev.csv`` format) has one row
per product in an order::

    order_id,user_id,order_number,order_dow,order_hour_of_day,days_since_prior_order,
    product_id,add_to_cart_order,reordered

The public release ("Instacart Market Basket Analysis", ``instacart_2017_05_01``) is a folder
that splits the same data over two kinds of file (:data:`RELEASE_FILES`)::

    orders.csv                  order_id,user_id,eval_set,order_number,order_dow,
                                order_hour_of_day,days_since_prior_order
    order_products__prior.csv   order_id,product_id,add_to_cart_order,reordered
    order_products__train.csv   (same columns; eval_set prior / train in orders.csv)

:func:`read_orders` takes either (a folder is read as the release, :func:`read_release`), groups
the rows into :class:`Order` records (products in ``add_to_cart_order`` order) and validates the
files; :class:`~schemas.errors.InvalidData` names ``file:line``. Columns may come in any order;
``reordered`` and unknown extra columns are ignored. A release folder gives exactly the orders of
the merged file of the same orders: the ``test`` orders (no products in the release) and any
order without a product row are left out, as a merged file cannot hold them.
Rules: every id and ``order_number`` / ``add_to_cart_order`` is a positive integer;
``order_dow`` is 0-6, ``order_hour_of_day`` 0-23; ``days_since_prior_order`` is a non-negative
integer (``"7.0"`` is accepted), and may be empty **only when** ``order_number`` is 1; all rows
of an order agree on its user, number, day, hour and gap; a cart position appears once per order;
a user's ``order_number`` appears once. In a release folder, ``eval_set`` is ``prior``, ``train``
or ``test``, an ``order_id`` appears once in ``orders.csv``, and every product row's order is in
``orders.csv`` with the ``eval_set`` of its file. Gaps in ``order_number`` (a file holding only
part of a history) are accepted: the first order present starts the user's clock.

Time synthesis (:func:`orders_to_events`), deterministic, all times epoch milliseconds UTC:

* day 0 is :data:`BASE_MS` = 2017-01-01T00:00Z (a Sunday, as ``order_dow`` 0);
* a user's first order starts on day ``order_dow`` at ``order_hour_of_day``:00;
* each later order starts on day ``previous day + days_since_prior_order`` (the previous order's
  nominal day) at its ``order_hour_of_day``:00; if that is not after the previous order's
  checkout it is pushed to the previous checkout + 1 minute;
* the product at cart position ``p`` (1-based) is added at start + ``(p - 1) * 30 s``;
  the checkout is 60 s after the last add (start + 60 s for an order without products);
* with ``search_rate`` R, each cart add is preceded, with probability R, by a synthetic search
  (``Search(synthetic=True)``) 10 s earlier whose query is :func:`~loaders.queries.search_query_for`
  of that product. The draws of an order come from ``random.Random(f"{seed}/{order_id}")``: the
  searches of an order depend only on the seed, the order id and its products, so converting
  a subset of users gives the same searches for them.

Event ids are stable and unique per order: ``o{order_id}-a{p}`` (cart add at position p),
``o{order_id}-s{p}`` (search before it), ``o{order_id}-c`` (checkout). The result is sorted by
``(ts, user_id, seq)`` where ``seq`` is the event's index in its user's own stream, so each user's
events keep their order and times strictly increase per user.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby, pairwise
from pathlib import Path

from loaders.catalog import AISLES_FILE, DEPARTMENTS_FILE, PRODUCTS_FILE, Catalog
from loaders.queries import search_query_for
from schemas.errors import ConfigError, InvalidData
from schemas.events import CartAdd, Checkout, Event, Search

__all__ = [
    "ADD_INTERVAL_MS",
    "BASE_MS",
    "CHECKOUT_DELAY_MS",
    "ORDER_COLUMNS",
    "PUSH_MS",
    "RELEASE_FILES",
    "RELEASE_ORDERS_COLUMNS",
    "RELEASE_PRODUCTS_COLUMNS",
    "SEARCH_LEAD_MS",
    "Order",
    "check_release_folder",
    "orders_to_events",
    "read_orders",
    "read_release",
    "split_test_orders",
]

BASE_MS = 1_483_228_800_000
"""2017-01-01T00:00:00Z, day 0 of the synthesised clock."""
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
ADD_INTERVAL_MS = 30_000
"""Time between two cart adds of an order."""
CHECKOUT_DELAY_MS = 60_000
"""Time from the last cart add to the checkout."""
PUSH_MS = 60_000
"""An order that would start before the previous checkout starts this long after it."""
SEARCH_LEAD_MS = 10_000
"""A synthetic search comes this long before its cart add."""

ORDER_COLUMNS = (
    "order_id",
    "user_id",
    "order_number",
    "order_dow",
    "order_hour_of_day",
    "days_since_prior_order",
    "product_id",
    "add_to_cart_order",
)
"""Columns :func:`read_orders` needs (``reordered`` and extra columns are ignored)."""

ORDERS_FILE = "orders.csv"
PRIOR_FILE = "order_products__prior.csv"
TRAIN_FILE = "order_products__train.csv"
RELEASE_FILES = (ORDERS_FILE, PRIOR_FILE, TRAIN_FILE, PRODUCTS_FILE, AISLES_FILE, DEPARTMENTS_FILE)
"""The files of a folder in the public release's layout (the last three are the catalog)."""
RELEASE_ORDERS_COLUMNS = (
    "order_id",
    "user_id",
    "eval_set",
    "order_number",
    "order_dow",
    "order_hour_of_day",
    "days_since_prior_order",
)
"""Columns of the release's ``orders.csv`` (one row per order)."""
RELEASE_PRODUCTS_COLUMNS = ("order_id", "product_id", "add_to_cart_order")
"""Columns the release's ``order_products__*.csv`` need (``reordered`` is ignored)."""
_EVAL_SETS = {"prior": "prior", "train": "train", "test": "test"}


@dataclass(frozen=True, slots=True)
class Order:
    """One placed order; ``product_ids`` in ``add_to_cart_order`` order."""

    order_id: int
    user_id: int
    order_number: int
    order_dow: int
    order_hour_of_day: int
    days_since_prior_order: int | None
    product_ids: tuple[int, ...]


def _days(text: str) -> int | None:
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        value = float(text)  # "7.0" as the original orders.csv writes it; ValueError otherwise
        if not value.is_integer():
            raise ValueError(text) from None
        return int(value)


def _explain_bad_row(
    where: str,
    row: list[str],
    cols: dict[str, int],
    width: int,
    columns: Sequence[str] = ORDER_COLUMNS,
) -> None:
    """Raise :class:`InvalidData` saying what is wrong with a row of an orders file."""
    if len(row) != width:
        raise InvalidData(f"{where}: expected {width} fields, got {len(row)}")
    limits = {"order_dow": (0, 6), "order_hour_of_day": (0, 23)}
    for name in columns:
        if name == "eval_set":
            continue  # text, checked by the caller
        text = row[cols[name]]
        if name == "days_since_prior_order":
            try:
                days = _days(text)
            except ValueError:
                raise InvalidData(
                    f"{where}: {name} must be an integer or empty, got {text!r}"[:300]
                ) from None
            if days is not None and days < 0:
                raise InvalidData(f"{where}: {name} must not be negative, got {days}")
            continue
        try:
            value = int(text)
        except ValueError:
            raise InvalidData(f"{where}: {name} must be an integer, got {text!r}"[:300]) from None
        lo, hi = limits.get(name, (1, None))
        if value < lo or (hi is not None and value > hi):
            bound = f"between {lo} and {hi}" if hi is not None else "positive"
            raise InvalidData(f"{where}: {name} must be {bound}, got {value}")
    raise InvalidData(f"{where}: bad row")  # pragma: no cover - the fast path agreed it was bad


def _open_rows(
    path: Path, columns: Sequence[str] = ORDER_COLUMNS, extra: str = ",reordered"
) -> Iterator[tuple[int, list[str], dict[str, int], int]]:
    """``(line, fields, column index, header width)`` of every data row of a CSV file after
    checking that its header has ``columns`` (in any order; ``extra`` completes the expected
    header in the message). One stream over the file: rows are never held."""
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise InvalidData(f"{path}:1: empty file, expected an orders header")
            names = [h.strip().lstrip("\ufeff") for h in header]
            missing = [c for c in columns if c not in names]
            if missing:
                raise InvalidData(
                    f"{path}:1: wrong header, missing column(s) {', '.join(missing)} "
                    f"(expected {','.join(columns)}{extra})"
                )
            cols = {c: names.index(c) for c in columns}
            for row in reader:
                if row:
                    yield reader.line_num, row, cols, len(names)
    except FileNotFoundError as exc:
        raise InvalidData(f"{path}: file not found") from exc
    except UnicodeDecodeError as exc:
        raise InvalidData(f"{path}: not UTF-8 text ({exc.reason})") from exc
    except csv.Error as exc:
        raise InvalidData(f"{path}: malformed CSV ({exc})") from exc


def read_orders(path: Path) -> list[Order]:
    """Read and validate an orders CSV, or a release folder (:func:`read_release`); orders
    sorted by ``(user_id, order_number)``.

    Raises :class:`InvalidData` naming ``file:line`` (rules in the module docstring).

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "orders.csv"
    >>> _ = p.write_text(
    ...     "order_id,user_id,order_number,order_dow,order_hour_of_day,days_since_prior_order,"
    ...     "product_id,add_to_cart_order,reordered\\n"
    ...     "11,7,2,3,9,5.0,196,2,1\\n11,7,2,3,9,5.0,12,1,0\\n10,7,1,0,8,,196,1,0\\n")
    >>> [(o.order_id, o.order_number, o.days_since_prior_order, o.product_ids)
    ...  for o in read_orders(p)]
    [(10, 1, None, (196,)), (11, 2, 5, (12, 196))]
    >>> _ = p.write_text(p.read_text() + "12,7,3,1,25,2,5,1,0\\n")
    >>> read_orders(p)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    schemas.errors.InvalidData: ...orders.csv:5: order_hour_of_day must be between 0 and 23, got 25
    """
    path = Path(path)
    if path.is_dir():
        return read_release(path)
    # order_id -> [meta tuple, first line, {position: product_id}]
    orders: dict[int, tuple[tuple[int, int, int, int, int | None], int, dict[int, int]]] = {}
    idx: tuple[int, ...] | None = None
    for line, row, cols, width in _open_rows(path):
        if idx is None:
            idx = tuple(cols[c] for c in ORDER_COLUMNS)
        i_oid, i_user, i_number, i_dow, i_hour, i_days, i_pid, i_pos = idx
        try:
            if len(row) != width:
                raise ValueError
            oid = int(row[i_oid])
            user = int(row[i_user])
            number = int(row[i_number])
            dow = int(row[i_dow])
            hour = int(row[i_hour])
            days = _days(row[i_days])
            pid = int(row[i_pid])
            pos = int(row[i_pos])
            ok = (
                oid > 0 and user > 0 and number > 0 and 0 <= dow <= 6 and 0 <= hour <= 23
                and (days is None or days >= 0) and pid > 0 and pos > 0
            )  # fmt: skip
        except ValueError:
            ok = False
        if not ok:
            _explain_bad_row(f"{path}:{line}", row, cols, width)
        meta = (user, number, dow, hour, days)
        entry = orders.get(oid)
        if entry is None:
            if days is None and number != 1:
                raise InvalidData(
                    f"{path}:{line}: days_since_prior_order is empty but order_number is "
                    f"{number} (only a first order may leave it empty)"
                )
            orders[oid] = (meta, line, {pos: pid})
            continue
        if entry[0] != meta:
            raise InvalidData(
                f"{path}:{line}: order {oid} has user/number/dow/hour/days {meta}, "
                f"but {entry[0]} on line {entry[1]}"
            )
        if pos in entry[2]:
            raise InvalidData(f"{path}:{line}: order {oid} has add_to_cart_order {pos} twice")
        entry[2][pos] = pid
    if not orders:
        raise InvalidData(f"{path}: no orders")
    out = [
        Order(oid, m[0], m[1], m[2], m[3], m[4], tuple(items[p] for p in sorted(items)))
        for oid, (m, _line, items) in orders.items()
    ]
    out.sort(key=lambda o: (o.user_id, o.order_number))
    for a, b in pairwise(out):
        if a.user_id == b.user_id and a.order_number == b.order_number:
            raise InvalidData(
                f"{path}:{orders[b.order_id][1]}: user {b.user_id} has order_number "
                f"{b.order_number} twice (orders {a.order_id} and {b.order_id})"
            )
    return out


def check_release_folder(folder: Path, *, catalog: bool = True) -> None:
    """Fail unless ``folder`` holds the order files of the public release (and, with
    ``catalog``, its catalog files too), naming every missing file at once.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "orders.csv").write_text("")
    >>> check_release_folder(d)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    schemas.errors.InvalidData: ...: not an Instacart release folder: missing order_prod...
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InvalidData(f"{folder}: not a folder (expected the Instacart release's files)")
    wanted = RELEASE_FILES if catalog else RELEASE_FILES[:3]
    missing = [name for name in wanted if not (folder / name).is_file()]
    if missing:
        raise InvalidData(
            f"{folder}: not an Instacart release folder: missing {', '.join(missing)} "
            f"(expected {', '.join(wanted)})"
        )


_OrderMeta = tuple[int, int, int, int, "int | None", str]
"""``(user_id, order_number, order_dow, order_hour_of_day, days_since_prior_order, eval_set)``."""


def _read_release_orders(path: Path) -> dict[int, _OrderMeta]:
    """``orders.csv`` of the release: ``{order_id: meta}``, every row validated."""
    meta: dict[int, _OrderMeta] = {}
    idx: tuple[int, ...] | None = None
    for line, row, cols, width in _open_rows(path, RELEASE_ORDERS_COLUMNS, extra=""):
        if idx is None:
            idx = tuple(cols[c] for c in RELEASE_ORDERS_COLUMNS)
        i_oid, i_user, i_set, i_number, i_dow, i_hour, i_days = idx
        try:
            if len(row) != width:
                raise ValueError
            oid = int(row[i_oid])
            user = int(row[i_user])
            number = int(row[i_number])
            dow = int(row[i_dow])
            hour = int(row[i_hour])
            days = _days(row[i_days])
            ok = (
                oid > 0 and user > 0 and number > 0 and 0 <= dow <= 6 and 0 <= hour <= 23
                and (days is None or days >= 0)
            )  # fmt: skip
        except ValueError:
            ok = False
        where = f"{path}:{line}"
        if not ok:
            _explain_bad_row(where, row, cols, width, RELEASE_ORDERS_COLUMNS)
        eval_set = _EVAL_SETS.get(row[i_set])
        if eval_set is None:
            raise InvalidData(f"{where}: eval_set must be prior, train or test, got {row[i_set]!r}")
        if days is None and number != 1:
            raise InvalidData(
                f"{where}: days_since_prior_order is empty but order_number is {number} "
                "(only a first order may leave it empty)"
            )
        if oid in meta:
            raise InvalidData(f"{where}: order_id {oid} appears twice")
        meta[oid] = (user, number, dow, hour, days, eval_set)
    return meta


def _read_release_products(
    path: Path,
    eval_set: str,
    meta: dict[int, _OrderMeta],
    out: dict[int, tuple[int, ...]],
    pids: dict[int, int],
) -> None:
    """Stream an ``order_products__*.csv`` into ``out`` (``{order_id: product ids by cart
    position}``). Rows are grouped while an order's rows are contiguous (as in the release,
    sorted by order_id); an order met again later is reopened, so any row order works.
    ``pids`` interns product ids: 32M rows share ~50k int objects."""
    orders_file = path.with_name(ORDERS_FILE)
    irregular: dict[int, tuple[int, ...]] = {}  # cart positions of orders not exactly 1..n
    group: dict[int, int] = {}
    current: int | None = None

    def close() -> None:
        positions = sorted(group)
        out[current] = tuple(group[p] for p in positions)  # type: ignore[index]
        if positions[-1] != len(positions):
            irregular[current] = tuple(positions)  # type: ignore[index]

    idx: tuple[int, ...] | None = None
    for line, row, cols, width in _open_rows(path, RELEASE_PRODUCTS_COLUMNS):
        if idx is None:
            idx = tuple(cols[c] for c in RELEASE_PRODUCTS_COLUMNS)
        i_oid, i_pid, i_pos = idx
        try:
            if len(row) != width:
                raise ValueError
            oid = int(row[i_oid])
            pid = int(row[i_pid])
            pos = int(row[i_pos])
            ok = oid > 0 and pid > 0 and pos > 0
        except ValueError:
            ok = False
        if not ok:
            _explain_bad_row(f"{path}:{line}", row, cols, width, RELEASE_PRODUCTS_COLUMNS)
        if oid != current:
            if current is not None:
                close()
            order = meta.get(oid)
            if order is None:
                raise InvalidData(f"{path}:{line}: order {oid} is not in {orders_file}")
            if order[5] != eval_set:
                raise InvalidData(
                    f"{path}:{line}: order {oid} is a {order[5]!r} order in {orders_file}, "
                    f"expected {eval_set!r} in this file"
                )
            current = oid
            before = out.get(oid)
            if before is None:
                group = {}
            else:  # the order's rows are not contiguous: carry on where it stopped
                positions = irregular.pop(oid, None) or range(1, len(before) + 1)
                group = dict(zip(positions, before, strict=True))
        if pos in group:
            raise InvalidData(f"{path}:{line}: order {oid} has add_to_cart_order {pos} twice")
        group[pos] = pids.setdefault(pid, pid)
    if current is not None:
        close()


def _line_of(path: Path, order_id: int) -> int | str:
    """The line of ``order_id`` in a release ``orders.csv`` (for an error message only)."""
    for line, row, cols, _width in _open_rows(path, RELEASE_ORDERS_COLUMNS, extra=""):
        if row[cols["order_id"]].strip() == str(order_id):
            return line
    return "?"  # pragma: no cover - the order came from this file


def read_release(folder: Path) -> list[Order]:
    """Read the orders of a folder in the public release's layout (module docstring); orders
    sorted by ``(user_id, order_number)``, equal to :func:`read_orders` of the merged file of
    the same orders.

    The large ``order_products__prior.csv`` (32M rows in the full release) is streamed row by
    row; what is kept is one tuple of product ids per order. Raises :class:`InvalidData` naming
    ``file:line``, or the missing files of an incomplete folder.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "orders.csv").write_text(
    ...     "order_id,user_id,eval_set,order_number,order_dow,order_hour_of_day,"
    ...     "days_since_prior_order\\n10,7,prior,1,0,08,\\n11,7,train,2,3,09,5.0\\n"
    ...     "12,7,test,3,1,10,2.0\\n")
    >>> _ = (d / "order_products__prior.csv").write_text(
    ...     "order_id,product_id,add_to_cart_order,reordered\\n10,196,1,0\\n")
    >>> _ = (d / "order_products__train.csv").write_text(
    ...     "order_id,product_id,add_to_cart_order,reordered\\n11,196,2,1\\n11,12,1,0\\n")
    >>> [(o.order_id, o.order_number, o.days_since_prior_order, o.product_ids)
    ...  for o in read_release(d)]
    [(10, 1, None, (196,)), (11, 2, 5, (12, 196))]
    """
    folder = Path(folder)
    check_release_folder(folder, catalog=False)
    orders_path = folder / ORDERS_FILE
    meta = _read_release_orders(orders_path)
    products: dict[int, tuple[int, ...]] = {}
    pids: dict[int, int] = {}
    _read_release_products(folder / PRIOR_FILE, "prior", meta, products, pids)
    _read_release_products(folder / TRAIN_FILE, "train", meta, products, pids)
    if not products:
        raise InvalidData(f"{folder}: no orders (no product rows in {PRIOR_FILE}, {TRAIN_FILE})")
    out: list[Order] = []
    for oid in list(products):
        user, number, dow, hour, days, _set = meta[oid]
        out.append(Order(oid, user, number, dow, hour, days, products.pop(oid)))
    out.sort(key=lambda o: (o.user_id, o.order_number))
    for a, b in pairwise(out):
        if a.user_id == b.user_id and a.order_number == b.order_number:
            raise InvalidData(
                f"{orders_path}:{_line_of(orders_path, b.order_id)}: user {b.user_id} has "
                f"order_number {b.order_number} twice (orders {a.order_id} and {b.order_id})"
            )
    return out


def _by_user(orders: Iterable[Order]) -> Iterator[tuple[int, list[Order]]]:
    """``(user_id, that user's orders by order_number)`` in ascending user id order."""
    ordered = sorted(orders, key=lambda o: (o.user_id, o.order_number))
    for user_id, group in groupby(ordered, key=lambda o: o.user_id):
        yield user_id, list(group)


def split_test_orders(
    orders: Iterable[Order], test_orders: int = 1
) -> tuple[list[Order], list[Order]]:
    """``(train, test)``: each user's last ``test_orders`` orders are test, the rest train.

    A user with ``test_orders`` orders or fewer has only test orders. Both lists are sorted by
    ``(user_id, order_number)``.

    >>> os = [Order(i, u, n, 0, 9, None if n == 1 else 7, (1,))
    ...       for i, (u, n) in enumerate([(1, 1), (1, 2), (1, 3), (2, 1)])]
    >>> train, test = split_test_orders(os)
    >>> [(o.user_id, o.order_number) for o in train], [(o.user_id, o.order_number) for o in test]
    ([(1, 1), (1, 2)], [(1, 3), (2, 1)])
    """
    if test_orders < 0:
        raise ConfigError(f"test_orders must be >= 0, got {test_orders}")
    train: list[Order] = []
    test: list[Order] = []
    for _user, history in _by_user(orders):
        cut = max(len(history) - test_orders, 0)
        train.extend(history[:cut])
        test.extend(history[cut:])
    return train, test


def _user_events(
    history: Sequence[Order], catalog: Catalog, search_rate: float, seed: int
) -> list[Event]:
    """One user's events in time order (``history`` sorted by order_number)."""
    events: list[Event] = []
    day = 0
    prev_checkout: int | None = None
    for i, order in enumerate(history):
        if i == 0:
            day = order.order_dow
        elif order.days_since_prior_order is None:
            raise InvalidData(
                f"order {order.order_id} of user {order.user_id}: days_since_prior_order is "
                f"missing on order_number {order.order_number}, which is not the user's first"
            )
        else:
            day += order.days_since_prior_order
        start = BASE_MS + day * DAY_MS + order.order_hour_of_day * HOUR_MS
        if prev_checkout is not None and start <= prev_checkout:
            start = prev_checkout + PUSH_MS
        oid, uid = order.order_id, order.user_id
        rng = random.Random(f"{seed}/{oid}") if search_rate > 0 else None
        ts = start
        for pos, pid in enumerate(order.product_ids, start=1):
            product = catalog.products.get(pid)
            if product is None:
                raise InvalidData(f"order {oid} of user {uid}: product {pid} is not in the catalog")
            ts = start + (pos - 1) * ADD_INTERVAL_MS
            if rng is not None and rng.random() < search_rate:
                query = search_query_for(product, catalog, rng)
                if query is not None:
                    events.append(Search(f"o{oid}-s{pos}", uid, query, ts - SEARCH_LEAD_MS, True))
            events.append(CartAdd(f"o{oid}-a{pos}", uid, pid, ts, oid))
        prev_checkout = ts + CHECKOUT_DELAY_MS
        events.append(Checkout(f"o{oid}-c", uid, prev_checkout, oid))
    return events


def orders_to_events(
    orders: Iterable[Order], catalog: Catalog, *, search_rate: float = 0.0, seed: int = 0
) -> list[Event]:
    """Turn orders into cart adds, checkouts and synthetic searches (module docstring).

    >>> from loaders.catalog import Product
    >>> cat = Catalog({196: Product(196, "Soda", 77, 7), 12: Product(12, "Greek Yogurt", 120, 16)},
    ...               {77: "soft drinks", 120: "yogurt"}, {7: "beverages", 16: "dairy eggs"})
    >>> events = orders_to_events([Order(10, 7, 1, 0, 8, None, (196, 12)),
    ...                            Order(11, 7, 2, 3, 9, 3, (12,))], cat)
    >>> [(e.type, e.event_id, e.ts - BASE_MS) for e in events]  # doctest: +NORMALIZE_WHITESPACE
    [('cart_add', 'o10-a1', 28800000), ('cart_add', 'o10-a2', 28830000),
     ('checkout', 'o10-c', 28890000), ('cart_add', 'o11-a1', 291600000),
     ('checkout', 'o11-c', 291660000)]
    >>> [(e.event_id, e.query) for e in orders_to_events(
    ...     [Order(10, 7, 1, 0, 8, None, (196, 12))], cat, search_rate=1.0) if e.type == "search"]
    [('o10-s1', 'soda'), ('o10-s2', 'yogurt')]
    """
    if not 0.0 <= search_rate <= 1.0:
        raise ConfigError(f"search_rate must be between 0 and 1, got {search_rate}")
    if seed < 0:
        raise ConfigError(f"seed must be >= 0, got {seed}")
    keyed: list[tuple[int, int, int, Event]] = []
    for user_id, history in _by_user(orders):
        for seq, event in enumerate(_user_events(history, catalog, search_rate, seed)):
            keyed.append((event.ts, user_id, seq, event))
    keyed.sort()  # (ts, user_id, seq) is unique, so events themselves are never compared
    return [t[3] for t in keyed]
