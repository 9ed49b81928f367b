"""loaders.instacart.read_release: the public release's folder layout gives the merged file's
orders, whatever the row order; incomplete folders and bad rows are one clear error."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from loaders.instacart import (
    RELEASE_FILES,
    Order,
    check_release_folder,
    read_orders,
    read_release,
)
from schemas.errors import InvalidData

ORDERS_HEADER = (
    "order_id,user_id,eval_set,order_number,order_dow,order_hour_of_day,days_since_prior_order\n"
)
PRODUCTS_HEADER = "order_id,product_id,add_to_cart_order,reordered\n"
GOOD_ORDERS = "10,7,prior,1,2,08,\n11,7,train,2,3,09,5.0\n12,7,test,3,1,10,2.0\n"
GOOD_PRIOR = "10,196,1,0\n10,12,2,0\n"
GOOD_TRAIN = "11,196,1,1\n"


def folder(
    tmp_path: Path,
    orders: str = GOOD_ORDERS,
    prior: str = GOOD_PRIOR,
    train: str = GOOD_TRAIN,
    *,
    orders_header: str = ORDERS_HEADER,
    products_header: str = PRODUCTS_HEADER,
) -> Path:
    d = tmp_path / "release"
    d.mkdir(exist_ok=True)
    (d / "orders.csv").write_text(orders_header + orders, encoding="utf-8")
    (d / "order_products__prior.csv").write_text(products_header + prior, encoding="utf-8")
    (d / "order_products__train.csv").write_text(products_header + train, encoding="utf-8")
    return d


def test_the_fixture_in_the_release_layout_reads_as_the_merged_file(
    release_dir: Path, orders: list[Order]
) -> None:
    from_release = read_orders(release_dir)
    assert from_release == orders
    assert len(from_release) == 492 and len({o.user_id for o in from_release}) == 25
    # the release's test orders (no products) are in orders.csv but not among the orders
    assert "test" in (release_dir / "orders.csv").read_text()


def test_row_order_and_gaps_in_cart_positions_do_not_matter(
    tmp_path: Path, release_dir: Path, orders: list[Order]
) -> None:
    d = tmp_path / "shuffled"
    shutil.copytree(release_dir, d)
    rng = random.Random(7)
    for name in ("orders.csv", "order_products__prior.csv", "order_products__train.csv"):
        header, *rows = (d / name).read_text().splitlines(keepends=True)
        rng.shuffle(rows)  # an order's rows are now scattered: each is reopened many times
        (d / name).write_text(header + "".join(rows))
    assert read_release(d) == orders
    gappy = folder(tmp_path, prior="10,12,5,0\n10,196,2,0\n11,1,1,0\n10,3,9,0\n", train="")
    with pytest.raises(InvalidData, match=r"order 11 is a 'train' order in .*orders.csv"):
        read_release(gappy)
    gappy = folder(tmp_path, prior="10,12,5,0\n20,1,1,0\n10,196,2,0\n10,3,9,0\n",
                   orders=GOOD_ORDERS + "20,8,prior,1,0,00,\n", train="")  # fmt: skip
    assert [o.product_ids for o in read_release(gappy)] == [(196, 12, 3), (1,)]


def test_test_orders_and_orders_without_products_are_left_out(tmp_path: Path) -> None:
    got = read_release(folder(tmp_path, orders=GOOD_ORDERS + "13,7,prior,4,1,10,2.0\n"))
    assert got == [Order(10, 7, 1, 2, 8, None, (196, 12)), Order(11, 7, 2, 3, 9, 5, (196,))]


def test_read_orders_takes_a_release_folder(tmp_path: Path) -> None:
    assert read_orders(folder(tmp_path)) == read_release(tmp_path / "release")


def test_a_folder_missing_files_names_all_of_them(tmp_path: Path) -> None:
    d = folder(tmp_path)
    (d / "order_products__train.csv").unlink()
    with pytest.raises(InvalidData, match=r"missing order_products__train.csv \(expected"):
        read_release(d)
    with pytest.raises(
        InvalidData,
        match=r"not an Instacart release folder: missing order_products__train.csv, "
        r"products.csv, aisles.csv, departments.csv \(expected orders.csv, ",
    ):
        check_release_folder(d)
    for name in RELEASE_FILES[3:]:
        (d / name).write_text("")
    (d / "order_products__train.csv").write_text(PRODUCTS_HEADER)
    check_release_folder(d)
    with pytest.raises(InvalidData, match="not a folder"):
        check_release_folder(tmp_path / "nope")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"orders_header": "order_id,user_id,order_number\n"},
         r"orders.csv:1: wrong header, missing column\(s\) eval_set, order_dow, "),
        ({"products_header": "order_id,product_id\n"},
         r"order_products__prior.csv:1: wrong header, missing column\(s\) add_to_cart_order"),
        ({"orders_header": ""}, r"orders.csv:1: wrong header, missing column\(s\) order_id"),
        ({"orders": "10,7,later,1,2,08,\n"},
         r"orders.csv:2: eval_set must be prior, train or test, got 'later'"),
        ({"orders": "10,7,prior,1,2,24,\n"},
         r"orders.csv:2: order_hour_of_day must be between 0 and 23, got 24"),
        ({"orders": "10,7,prior,1,2,08\n"}, r"orders.csv:2: expected 7 fields, got 6"),
        ({"orders": "10,7,prior,2,2,08,\n"},
         r"orders.csv:2: days_since_prior_order is empty but order_number is 2"),
        ({"orders": GOOD_ORDERS + "10,8,prior,1,2,08,\n"},
         r"orders.csv:5: order_id 10 appears twice"),
        ({"orders": GOOD_ORDERS + "14,7,prior,2,2,08,1.0\n", "prior": GOOD_PRIOR + "14,5,1,0\n"},
         r"orders.csv:[35]: user 7 has order_number 2 twice \(orders 1[14] and 1[14]\)"),
        ({"prior": GOOD_PRIOR + "99,5,1,0\n"},
         r"order_products__prior.csv:4: order 99 is not in .*orders.csv"),
        ({"prior": GOOD_PRIOR + "12,5,1,0\n"},
         r"order_products__prior.csv:4: order 12 is a 'test' order in .*, expected 'prior'"),
        ({"train": "10,5,3,0\n"},
         r"order_products__train.csv:2: order 10 is a 'prior' order in .*, expected 'train'"),
        ({"prior": "10,196,1,0\n10,12,1,0\n"},
         r"order_products__prior.csv:3: order 10 has add_to_cart_order 1 twice"),
        ({"prior": "10,196,1,0\n10,12,2,0\n20,5,1,0\n10,7,2,0\n",
          "orders": GOOD_ORDERS + "20,8,prior,1,0,00,\n"},
         r"order_products__prior.csv:5: order 10 has add_to_cart_order 2 twice"),
        ({"prior": "10,x,1,0\n"}, r"order_products__prior.csv:2: product_id must be an integer"),
        ({"prior": "10,196,0,0\n"},
         r"order_products__prior.csv:2: add_to_cart_order must be positive, got 0"),
        ({"prior": "", "train": ""}, r"release: no orders \(no product rows in "),
    ],
)  # fmt: skip
def test_bad_files_are_invalid_data_naming_file_and_line(
    tmp_path: Path, kwargs: dict[str, str], message: str
) -> None:
    with pytest.raises(InvalidData, match=message):
        read_release(folder(tmp_path, **kwargs))
