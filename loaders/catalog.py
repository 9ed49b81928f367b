"""The product catalog: ``products.csv``, ``aisles.csv`` and ``departments.csv`` (Instacart format).

::

    products.csv     product_id,product_name,aisle_id,department_id
    aisles.csv       aisle_id,aisle
    departments.csv  department_id,department

:func:`load_catalog` reads the three files of a folder into a :class:`Catalog` and raises
:class:`~schemas.errors.InvalidData` naming ``file:line`` for a wrong header or a bad row (wrong
field count, non-integer or non-positive id, duplicate id, unknown aisle or department, empty name).

Product names are cleaned of the quirks of the original release (see the data's ``SOURCE.md``),
never otherwise rewritten (see :func:`clean_name`):

* backslash-escaped quotes (``9\\"x13\\"`` as Python's ``csv`` reads them) become plain quotes;
* control characters (e.g. U+008F) are dropped; a U+FFFD replacement character between two
  letters was an apostrophe (``Diana�s`` -> ``Diana's``), anywhere else it is dropped;
* runs of whitespace (double spaces where commas used to be, no-break spaces) become one space.

``missing`` is a real aisle (100) and department (21) name in the data; it is kept as is and
:data:`MISSING` names it so that code can tell "no useful aisle" apart.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from schemas.errors import InvalidData

__all__ = [
    "AISLES_FILE",
    "DEPARTMENTS_FILE",
    "MISSING",
    "PRODUCTS_FILE",
    "Catalog",
    "Product",
    "clean_name",
    "load_catalog",
]

PRODUCTS_FILE = "products.csv"
AISLES_FILE = "aisles.csv"
DEPARTMENTS_FILE = "departments.csv"
MISSING = "missing"
"""The aisle/department name the data uses for "unknown"."""

_PRODUCTS_HEADER = ["product_id", "product_name", "aisle_id", "department_id"]
_AISLES_HEADER = ["aisle_id", "aisle"]
_DEPARTMENTS_HEADER = ["department_id", "department"]

_SPACES = re.compile(r"\s+")
_BAD_REPLACEMENT = re.compile(r"(?<=[^\W\d_])\ufffd(?=[^\W\d_])")
_NEEDS_CLEANING = re.compile(r"[\\\x00-\x1f\x7f-\x9f\ufffd]|\s\s|^\s|\s$|[^\S ]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ufffd]")


@dataclass(frozen=True, slots=True)
class Product:
    """One catalog product."""

    product_id: int
    name: str
    aisle_id: int
    department_id: int


@dataclass(frozen=True)
class Catalog:
    """Products with their aisle and department names.

    >>> c = Catalog({1: Product(1, "Organic Bananas", 24, 4)}, {24: "fresh fruits"}, {4: "produce"})
    >>> c.name_of(1), c.aisle_of(1), c.department_of(1), 1 in c, 2 in c, len(c)
    ('Organic Bananas', 'fresh fruits', 'produce', True, False, 1)
    """

    products: dict[int, Product]
    aisles: dict[int, str]
    departments: dict[int, str]

    def __contains__(self, product_id: object) -> bool:
        return product_id in self.products

    def __len__(self) -> int:
        return len(self.products)

    def __iter__(self) -> Iterator[Product]:
        """Products in ascending ``product_id`` order."""
        return (self.products[pid] for pid in sorted(self.products))

    def product(self, product_id: int) -> Product:
        """The product with this id; :class:`InvalidData` if the catalog lacks it."""
        try:
            return self.products[product_id]
        except KeyError:
            raise InvalidData(f"product {product_id} is not in the catalog") from None

    def name_of(self, product_id: int) -> str:
        """The (cleaned) product name."""
        return self.product(product_id).name

    def aisle_of(self, product_id: int) -> str:
        """The name of the product's aisle (may be :data:`MISSING`)."""
        return self.aisles[self.product(product_id).aisle_id]

    def department_of(self, product_id: int) -> str:
        """The name of the product's department (may be :data:`MISSING`)."""
        return self.departments[self.product(product_id).department_id]

    def columns(self) -> tuple[list[int], list[int], list[int]]:
        """``(product_ids, aisle_ids, department_ids)`` in ascending product id order.

        Ready for ``numpy.asarray`` by scorers (schemas itself does not import numpy).

        >>> Catalog({5: Product(5, "b", 2, 1), 3: Product(3, "a", 1, 1)}, {}, {}).columns()
        ([3, 5], [1, 2], [1, 1])
        """
        ids = sorted(self.products)
        return (
            ids,
            [self.products[i].aisle_id for i in ids],
            [self.products[i].department_id for i in ids],
        )


def clean_name(raw: str) -> str:
    r"""Undo the format quirks of the original product names (module docstring).

    >>> clean_name('Easy Grab 9\\"x13\\" Oblong Glass Bakeware')
    'Easy Grab 9"x13" Oblong Glass Bakeware'
    >>> clean_name("Pizza for One Suprema  Frozen Pizza")
    'Pizza for One Suprema Frozen Pizza'
    >>> clean_name("Diana\ufffds Bananas \ufffd 5 CT\x8f")
    "Diana's Bananas 5 CT"
    """
    if not _NEEDS_CLEANING.search(raw):
        return raw
    name = raw.replace('\\"', '"').replace("\\'", "'")
    name = _BAD_REPLACEMENT.sub("'", name)
    name = _CONTROL.sub("", name)
    return _SPACES.sub(" ", name).strip()


def _rows(path: Path, header: list[str]) -> Iterator[tuple[int, list[str]]]:
    """``(line_number, fields)`` of every data row after checking the header."""
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            first = next(reader, None)
            if first is None:
                raise InvalidData(f"{path}:1: empty file, expected header {','.join(header)}")
            if [f.strip().lstrip("\ufeff") for f in first] != header:
                raise InvalidData(
                    f"{path}:1: wrong header {','.join(first)!r}, expected {','.join(header)!r}"
                )
            for fields in reader:
                if not fields:
                    continue
                yield reader.line_num, fields
    except FileNotFoundError as exc:
        raise InvalidData(f"{path}: file not found") from exc
    except UnicodeDecodeError as exc:
        raise InvalidData(f"{path}: not UTF-8 text ({exc.reason})") from exc
    except csv.Error as exc:
        raise InvalidData(f"{path}: malformed CSV ({exc})") from exc


def _positive_int(text: str, column: str, where: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise InvalidData(f"{where}: {column} must be an integer, got {text!r}"[:300]) from None
    if value <= 0:
        raise InvalidData(f"{where}: {column} must be positive, got {value}")
    return value


def _read_names(path: Path, header: list[str]) -> dict[int, str]:
    out: dict[int, str] = {}
    for line, fields in _rows(path, header):
        where = f"{path}:{line}"
        if len(fields) != 2:
            raise InvalidData(f"{where}: expected 2 fields, got {len(fields)}")
        key = _positive_int(fields[0], header[0], where)
        if key in out:
            raise InvalidData(f"{where}: duplicate {header[0]} {key}")
        name = clean_name(fields[1])
        if not name:
            raise InvalidData(f"{where}: empty {header[1]} name")
        out[key] = name
    return out


def _explain_bad_product(
    where: str,
    fields: list[str],
    products: dict[int, Product],
    aisles: dict[int, str],
    departments: dict[int, str],
) -> None:
    """Raise :class:`InvalidData` saying what is wrong with a products.csv row."""
    if len(fields) != 4:
        raise InvalidData(f"{where}: expected 4 fields, got {len(fields)}")
    pid = _positive_int(fields[0], "product_id", where)
    aisle_id = _positive_int(fields[2], "aisle_id", where)
    department_id = _positive_int(fields[3], "department_id", where)
    if pid in products:
        raise InvalidData(f"{where}: duplicate product_id {pid}")
    if aisle_id not in aisles:
        raise InvalidData(f"{where}: aisle_id {aisle_id} is not in {AISLES_FILE}")
    if department_id not in departments:
        raise InvalidData(f"{where}: department_id {department_id} is not in {DEPARTMENTS_FILE}")
    raise InvalidData(f"{where}: empty product_name")


def load_catalog(catalog_dir: Path) -> Catalog:
    """Read ``products.csv``, ``aisles.csv`` and ``departments.csv`` from ``catalog_dir``.

    Raises :class:`InvalidData` naming ``file:line`` on a wrong header or a bad row.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "aisles.csv").write_text("aisle_id,aisle\\n24,fresh fruits\\n")
    >>> _ = (d / "departments.csv").write_text("department_id,department\\n4,produce\\n")
    >>> _ = (d / "products.csv").write_text(
    ...     'product_id,product_name,aisle_id,department_id\\n'
    ...     '24852,Banana,24,4\\n'
    ...     '218,"6\\\\"" Organic Carrot Cake",24,4\\n')
    >>> c = load_catalog(d)
    >>> c.name_of(218), c.aisle_of(24852)
    ('6" Organic Carrot Cake', 'fresh fruits')
    >>> _ = (d / "products.csv").write_text(
    ...     "product_id,product_name,aisle_id,department_id\\n1,Banana,99,4\\n")
    >>> load_catalog(d)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    schemas.errors.InvalidData: ...products.csv:2: aisle_id 99 is not in aisles.csv
    """
    catalog_dir = Path(catalog_dir)
    if not catalog_dir.is_dir():
        raise InvalidData(f"{catalog_dir}: not a directory (expected the catalog folder)")
    aisles = _read_names(catalog_dir / AISLES_FILE, _AISLES_HEADER)
    departments = _read_names(catalog_dir / DEPARTMENTS_FILE, _DEPARTMENTS_HEADER)
    path = catalog_dir / PRODUCTS_FILE
    products: dict[int, Product] = {}
    for line, fields in _rows(path, _PRODUCTS_HEADER):
        try:
            # the fast path: every check in one place; the slow path says what is wrong
            pid, raw_name, aisle_id, department_id = fields
            pid, aisle_id, department_id = int(pid), int(aisle_id), int(department_id)
            ok = pid > 0 and pid not in products and aisle_id in aisles
            ok = ok and department_id in departments
        except ValueError:
            ok = False
        name = clean_name(raw_name) if ok else ""
        if not name:
            _explain_bad_product(f"{path}:{line}", fields, products, aisles, departments)
        products[pid] = Product(pid, name, aisle_id, department_id)
    if not products:
        raise InvalidData(f"{path}: no products")
    return Catalog(products, aisles, departments)
