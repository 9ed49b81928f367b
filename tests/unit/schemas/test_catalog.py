"""loaders.catalog: quirky names, strict errors with file:line, the fixture catalog."""

from __future__ import annotations

from pathlib import Path

import pytest

from loaders.catalog import MISSING, clean_name, load_catalog
from schemas.errors import InvalidData

FIXTURE = Path(__file__).parents[2] / "fixtures" / "instacart"
AISLES = "aisle_id,aisle\n10,kitchen supplies\n100,missing\n"
DEPARTMENTS = "department_id,department\n17,household\n21,missing\n"
HEADER = "product_id,product_name,aisle_id,department_id\n"


def write_catalog(tmp_path: Path, products: str, aisles: str = AISLES) -> Path:
    (tmp_path / "aisles.csv").write_text(aisles, encoding="utf-8")
    (tmp_path / "departments.csv").write_text(DEPARTMENTS, encoding="utf-8")
    (tmp_path / "products.csv").write_text(HEADER + products, encoding="utf-8")
    return tmp_path


def test_quirky_names_from_the_original_rows_are_cleaned(tmp_path: Path) -> None:
    rows = (
        '105,"Easy Grab 9\\""x13\\"" Oblong Glass Bakeware",10,17\n'
        '483,"\\""Constant Comment\\"" Decaffeinated Black Tea Blend",10,17\n'
        "18,Pizza for One Suprema  Frozen Pizza,10,17\n"
        "32336,Diana\ufffds Bananas Milk Chocolate with Peanuts - Banana Babies \ufffd 5 CT,10,17\n"
        "45877,Hershey's Chocolate Creme Pie Singles\x8f,10,17\n"
        '1147,"Pop Up Notes, 3\\"" X 3\\""",10,17\n'
        "7,Caf\u00e9\u00a0Cr\u00e8me\u00ae,100,21\n"
    )
    catalog = load_catalog(write_catalog(tmp_path, rows))
    assert catalog.name_of(105) == 'Easy Grab 9"x13" Oblong Glass Bakeware'
    assert catalog.name_of(483) == '"Constant Comment" Decaffeinated Black Tea Blend'
    assert catalog.name_of(18) == "Pizza for One Suprema Frozen Pizza"
    assert catalog.name_of(32336) == (
        "Diana's Bananas Milk Chocolate with Peanuts - Banana Babies 5 CT"
    )
    assert catalog.name_of(45877) == "Hershey's Chocolate Creme Pie Singles"
    assert catalog.name_of(1147) == 'Pop Up Notes, 3" X 3"'
    assert catalog.name_of(7) == "Café Crème®"
    assert catalog.aisle_of(7) == MISSING and catalog.department_of(7) == MISSING


def test_clean_name_leaves_ordinary_names_alone() -> None:
    assert clean_name("Organic Strawberry Yogurt") == "Organic Strawberry Yogurt"
    assert clean_name("  Soda  ") == "Soda"


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("1,Soda,10,17\n2,Tea,10\n", "products.csv:3: expected 4 fields, got 3"),
        ("1,Soda,10,17\nx,Tea,10,17\n", "products.csv:3: product_id must be an integer"),
        ("1,Soda,10,17\n1,Tea,10,17\n", "products.csv:3: duplicate product_id 1"),
        ("0,Soda,10,17\n", "products.csv:2: product_id must be positive"),
        ("1,Soda,11,17\n", "products.csv:2: aisle_id 11 is not in aisles.csv"),
        ("1,Soda,10,3\n", "products.csv:2: department_id 3 is not in departments.csv"),
        ('1,"  ",10,17\n', "products.csv:2: empty product_name"),
    ],
)
def test_bad_product_row_names_file_and_line(tmp_path: Path, rows: str, message: str) -> None:
    with pytest.raises(InvalidData, match=message):
        load_catalog(write_catalog(tmp_path, rows))


def test_line_numbers_count_physical_lines_of_multiline_quoted_names(tmp_path: Path) -> None:
    rows = '1,"Two\nLines",10,17\n2,Tea,10,99\n'
    with pytest.raises(InvalidData, match=r"products.csv:4: department_id 99"):
        load_catalog(write_catalog(tmp_path, rows))


def test_wrong_header_is_invalid_data(tmp_path: Path) -> None:
    write_catalog(tmp_path, "1,Soda,10,17\n", aisles="id,name\n10,x\n")
    with pytest.raises(InvalidData, match=r"aisles.csv:1: wrong header"):
        load_catalog(tmp_path)


def test_missing_folder_or_file_is_invalid_data(tmp_path: Path) -> None:
    with pytest.raises(InvalidData, match="not a directory"):
        load_catalog(tmp_path / "nope")
    (tmp_path / "aisles.csv").write_text(AISLES)
    with pytest.raises(InvalidData, match=r"departments.csv: file not found"):
        load_catalog(tmp_path)


def test_fixture_catalog_loads_every_product_with_known_aisle_and_department() -> None:
    catalog = load_catalog(FIXTURE)
    assert len(catalog) == 1996
    assert len(catalog.aisles) == 134 and len(catalog.departments) == 21
    ids, aisle_ids, department_ids = catalog.columns()
    assert ids == sorted(catalog.products) and len(aisle_ids) == len(department_ids) == len(ids)
    assert all("\\" not in p.name and "  " not in p.name for p in catalog)
