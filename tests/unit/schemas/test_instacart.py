"""loaders.instacart: strict reading, deterministic time synthesis, synthetic searches."""

from __future__ import annotations

from collections import defaultdict
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loaders.catalog import Catalog, Product, load_catalog
from loaders.instacart import (
    ADD_INTERVAL_MS,
    BASE_MS,
    CHECKOUT_DELAY_MS,
    DAY_MS,
    HOUR_MS,
    PUSH_MS,
    SEARCH_LEAD_MS,
    Order,
    orders_to_events,
    read_orders,
    split_test_orders,
)
from schemas.errors import ConfigError, InvalidData
from schemas.events import CartAdd, Checkout, Event, Search, decode, encode

FIXTURE = Path(__file__).parents[2] / "fixtures" / "instacart"
HEADER = (
    "order_id,user_id,order_number,order_dow,order_hour_of_day,days_since_prior_order,"
    "product_id,add_to_cart_order,reordered\n"
)
GOOD = "10,7,1,2,8,,196,1,0\n10,7,1,2,8,,12,2,0\n11,7,2,3,9,5,196,1,1\n"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(FIXTURE)


@pytest.fixture(scope="module")
def orders() -> list[Order]:
    return read_orders(FIXTURE / "orders.csv")


def small_catalog() -> Catalog:
    products = {
        196: Product(196, "Soda", 77, 7),
        12: Product(12, "Organic Strawberry Yogurt", 120, 16),
        5: Product(5, "100% 12 oz", 120, 16),
    }
    return Catalog(products, {77: "soft drinks", 120: "yogurt"}, {7: "beverages", 16: "dairy"})


def write(tmp_path: Path, rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "orders.csv"
    path.write_text(header + rows, encoding="utf-8")
    return path


def by_user(events: list[Event]) -> dict[int, list[Event]]:
    out: dict[int, list[Event]] = defaultdict(list)
    for event in events:
        out[event.user_id].append(event)
    return out


# --- reading ---------------------------------------------------------------------------------


def test_read_orders_groups_rows_and_sorts_products_by_cart_position(tmp_path: Path) -> None:
    rows = "11,7,2,3,9,5.0,196,2,1\n11,7,2,3,9,5.0,12,1,0\n10,7,1,2,8,,196,1,0\n9,3,1,0,0,,5,1,0\n"
    orders = read_orders(write(tmp_path, rows))
    assert orders == [
        Order(9, 3, 1, 0, 0, None, (5,)),
        Order(10, 7, 1, 2, 8, None, (196,)),
        Order(11, 7, 2, 3, 9, 5, (12, 196)),
    ]


def test_columns_may_come_in_any_order_and_reordered_is_optional(tmp_path: Path) -> None:
    header = (
        "user_id,order_id,product_id,add_to_cart_order,order_number,order_dow,"
        "order_hour_of_day,days_since_prior_order\n"
    )
    orders = read_orders(write(tmp_path, "7,10,196,1,1,2,8,\n", header))
    assert orders == [Order(10, 7, 1, 2, 8, None, (196,))]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("10,7,1,2,8,,196,1\n", r"orders.csv:2: expected 9 fields, got 8"),
        ("10,7,1,2,8,,abc,1,0\n", r"orders.csv:2: product_id must be an integer, got 'abc'"),
        ("10,7,1,7,8,,196,1,0\n", r"orders.csv:2: order_dow must be between 0 and 6, got 7"),
        ("10,7,1,2,24,,196,1,0\n", r"orders.csv:2: order_hour_of_day must be between 0 and 23"),
        ("10,7,1,2,8,,196,0,0\n", r"orders.csv:2: add_to_cart_order must be positive, got 0"),
        ("10,7,1,2,8,2.5,196,1,0\n", r"orders.csv:2: days_since_prior_order must be an integer"),
        ("10,7,1,2,8,-1,196,1,0\n", r"orders.csv:2: days_since_prior_order must not be negative"),
        (GOOD + "12,7,3,1,1,,196,1,0\n", r"orders.csv:5: days_since_prior_order is empty but"),
        (GOOD + "11,7,2,4,9,5,12,2,0\n", r"orders.csv:5: order 11 has .* on line 4"),
        (GOOD + "11,7,2,3,9,5,12,1,0\n", r"orders.csv:5: order 11 has add_to_cart_order 1 twice"),
        (GOOD + "12,7,2,3,9,5,12,1,0\n", r"orders.csv:5: user 7 has order_number 2 twice"),
    ],
)
def test_bad_row_is_invalid_data_naming_file_and_line(
    tmp_path: Path, rows: str, message: str
) -> None:
    with pytest.raises(InvalidData, match=message):
        read_orders(write(tmp_path, rows))


def test_wrong_header_and_empty_file_are_invalid_data(tmp_path: Path) -> None:
    with pytest.raises(InvalidData, match=r"orders.csv:1: wrong header, missing column\(s\) user"):
        read_orders(write(tmp_path, GOOD, header="order_id,customer\n"))
    with pytest.raises(InvalidData, match="no orders"):
        read_orders(write(tmp_path, ""))
    with pytest.raises(InvalidData, match="file not found"):
        read_orders(tmp_path / "nope.csv")


def test_gaps_in_order_number_are_accepted(tmp_path: Path) -> None:
    rows = "20,7,5,2,8,3,196,1,0\n21,7,9,3,9,4,12,1,0\n"
    assert [o.order_number for o in read_orders(write(tmp_path, rows))] == [5, 9]


def test_fixture_reads_25_users_complete_histories(orders: list[Order]) -> None:
    assert len({o.user_id for o in orders}) == 25
    assert sum(len(o.product_ids) for o in orders) == 5745
    for user_orders in by_user_orders(orders).values():
        assert [o.order_number for o in user_orders] == list(range(1, len(user_orders) + 1))


def by_user_orders(orders: list[Order]) -> dict[int, list[Order]]:
    out: dict[int, list[Order]] = defaultdict(list)
    for order in orders:
        out[order.user_id].append(order)
    return out


# --- splitting -------------------------------------------------------------------------------


def test_split_test_orders_takes_each_users_last_orders(orders: list[Order]) -> None:
    train, test = split_test_orders(orders, test_orders=2)
    assert len(test) == 2 * 25 and len(train) + len(test) == len(orders)
    last = {u: max(o.order_number for o in os) for u, os in by_user_orders(orders).items()}
    assert all(o.order_number > last[o.user_id] - 2 for o in test)
    assert all(o.order_number <= last[o.user_id] - 2 for o in train)
    with pytest.raises(ConfigError):
        split_test_orders(orders, test_orders=-1)


# --- time synthesis --------------------------------------------------------------------------


def test_times_follow_the_documented_rules() -> None:
    orders = [
        Order(1, 7, 1, 2, 8, None, (196, 12)),  # day 2, 08:00
        Order(2, 7, 2, 5, 23, 0, (12,)),  # same day 23:00
        Order(3, 7, 3, 0, 1, 0, (196,)),  # same day 01:00 is before the last checkout: pushed
    ]
    events = orders_to_events(orders, small_catalog())
    start1 = BASE_MS + 2 * DAY_MS + 8 * HOUR_MS
    start2 = BASE_MS + 2 * DAY_MS + 23 * HOUR_MS
    checkout2 = start2 + CHECKOUT_DELAY_MS
    assert [(e.event_id, e.ts) for e in events] == [
        ("o1-a1", start1),
        ("o1-a2", start1 + ADD_INTERVAL_MS),
        ("o1-c", start1 + ADD_INTERVAL_MS + CHECKOUT_DELAY_MS),
        ("o2-a1", start2),
        ("o2-c", checkout2),
        ("o3-a1", checkout2 + PUSH_MS),
        ("o3-c", checkout2 + PUSH_MS + CHECKOUT_DELAY_MS),
    ]
    assert all(isinstance(e, CartAdd | Checkout) and e.order_id for e in events)


def test_later_order_without_days_since_prior_is_invalid_data() -> None:
    orders = [Order(1, 7, 1, 2, 8, None, (196,)), Order(2, 7, 2, 2, 8, None, (196,))]
    with pytest.raises(InvalidData, match="order 2 of user 7: days_since_prior_order is missing"):
        orders_to_events(orders, small_catalog())


def test_product_outside_the_catalog_is_invalid_data() -> None:
    with pytest.raises(InvalidData, match="order 1 of user 7: product 999 is not in the catalog"):
        orders_to_events([Order(1, 7, 1, 2, 8, None, (999,))], small_catalog())


def test_times_strictly_increase_per_user_and_checkout_follows_its_adds(
    orders: list[Order], catalog: Catalog
) -> None:
    events = orders_to_events(orders, catalog, search_rate=0.5, seed=3)
    assert [(e.ts, e.user_id) for e in events] == sorted((e.ts, e.user_id) for e in events)
    for user_events in by_user(events).values():
        times = [e.ts for e in user_events]
        assert all(a < b for a, b in pairwise(times))
        last_add: dict[int | None, int] = {}
        for event in user_events:
            if isinstance(event, CartAdd):
                last_add[event.order_id] = event.ts
            elif isinstance(event, Checkout):
                assert event.ts == last_add[event.order_id] + CHECKOUT_DELAY_MS


def test_each_order_becomes_its_adds_then_one_checkout(
    orders: list[Order], catalog: Catalog
) -> None:
    events = orders_to_events(orders, catalog)
    adds = [e for e in events if isinstance(e, CartAdd)]
    assert len(adds) == sum(len(o.product_ids) for o in orders)
    assert sum(isinstance(e, Checkout) for e in events) == len(orders)
    assert len({e.event_id for e in events}) == len(events)
    per_order: dict[int | None, list[int]] = defaultdict(list)
    for add in adds:
        per_order[add.order_id].append(add.product_id)
    assert all(tuple(per_order[o.order_id]) == o.product_ids for o in orders)


# --- synthetic searches ----------------------------------------------------------------------


def test_search_rate_zero_gives_no_searches(orders: list[Order], catalog: Catalog) -> None:
    assert not any(isinstance(e, Search) for e in orders_to_events(orders, catalog))


def test_searches_are_synthetic_and_come_just_before_their_cart_add(
    orders: list[Order], catalog: Catalog
) -> None:
    events = orders_to_events(orders, catalog, search_rate=0.3, seed=1)
    searches = [e for e in events if isinstance(e, Search)]
    n_adds = sum(isinstance(e, CartAdd) for e in events)
    assert 0.25 * n_adds < len(searches) < 0.35 * n_adds
    adds = {e.event_id: e for e in events if isinstance(e, CartAdd)}
    for search in searches:
        assert search.synthetic and search.query == search.query.lower() and search.query.strip()
        add = adds[search.event_id.replace("-s", "-a")]
        assert add.ts - search.ts == SEARCH_LEAD_MS and add.user_id == search.user_id


def test_same_seed_same_log_other_seed_other_searches(
    orders: list[Order], catalog: Catalog
) -> None:
    first = orders_to_events(orders, catalog, search_rate=0.3, seed=5)
    assert orders_to_events(orders, catalog, search_rate=0.3, seed=5) == first
    assert orders_to_events(orders, catalog, search_rate=0.3, seed=6) != first


def test_a_users_searches_do_not_depend_on_other_users(
    orders: list[Order], catalog: Catalog
) -> None:
    everyone = orders_to_events(orders, catalog, search_rate=0.3, seed=2)
    user = orders[0].user_id
    alone = orders_to_events(
        [o for o in orders if o.user_id == user], catalog, search_rate=0.3, seed=2
    )
    assert alone == [e for e in everyone if e.user_id == user]


def test_search_queries_fall_back_to_the_aisle_name() -> None:
    events = orders_to_events(
        [Order(1, 7, 1, 2, 8, None, (5, 196))], small_catalog(), search_rate=1.0
    )
    assert [(e.event_id, e.query) for e in events if isinstance(e, Search)] == [
        ("o1-s1", "yogurt"),  # "100% 12 oz" has no usable word: its aisle
        ("o1-s2", "soda"),
    ]


def test_bad_arguments_are_config_errors(orders: list[Order], catalog: Catalog) -> None:
    with pytest.raises(ConfigError):
        orders_to_events(orders, catalog, search_rate=1.5)
    with pytest.raises(ConfigError):
        orders_to_events(orders, catalog, seed=-1)


def test_events_round_trip_through_encode_and_decode(orders: list[Order], catalog: Catalog) -> None:
    events = orders_to_events(orders, catalog, search_rate=0.3, seed=0)
    assert [decode(encode(e), catalog) for e in events] == events


order_shapes = st.lists(
    st.tuples(
        st.integers(0, 6),  # dow
        st.integers(0, 23),  # hour
        st.integers(0, 30),  # days since prior
        st.lists(st.sampled_from([196, 12, 5]), max_size=6),  # products
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=150, deadline=None)
@given(histories=st.lists(order_shapes, min_size=1, max_size=4), rate=st.sampled_from([0, 0.5, 1]))
def test_any_history_gives_strictly_increasing_times_and_checkouts_last(
    histories: list[list[tuple[int, int, int, list[int]]]], rate: float
) -> None:
    orders = [
        Order(100 * u + n, u, n, dow, hour, None if n == 1 else days, tuple(products))
        for u, shapes in enumerate(histories, start=1)
        for n, (dow, hour, days, products) in enumerate(shapes, start=1)
    ]
    events = orders_to_events(orders, small_catalog(), search_rate=rate, seed=1)
    assert sum(isinstance(e, Checkout) for e in events) == len(orders)
    for user_events in by_user(events).values():
        assert all(a.ts < b.ts for a, b in pairwise(user_events))
        current: set[int | None] = set()
        for event in user_events:
            if isinstance(event, CartAdd):
                current.add(event.order_id)
            elif isinstance(event, Checkout):
                assert current <= {event.order_id}  # adds of an order all precede its checkout
                current = set()
