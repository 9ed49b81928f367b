"""loaders.queries: synthetic search queries look like what a shopper types."""

from __future__ import annotations

import random

import pytest

from loaders.catalog import Catalog, Product
from loaders.queries import name_terms, search_query_for

CATALOG = Catalog({}, {24: "fresh fruits", 100: "missing"}, {4: "produce", 21: "missing"})


@pytest.mark.parametrize(
    ("name", "head"),
    [
        ("Organic Strawberry Yogurt", "yogurt"),
        ("Chocolate Sandwich Cookies", "cookies"),
        ("Bag of Organic Bananas", "bananas"),
        ("Tuna in Water", "tuna"),
        ("Pizza for One Suprema Frozen Pizza", "pizza"),
        ("Sparkling Water Grapefruit (12 pack)", "grapefruit"),
        ("Greek Yogurt - Strawberry, 5.3 oz", "yogurt"),
        ("1% Low Fat Cottage Cheese", "cheese"),
        ("Tender Care Diapers Jumbo Pack - Size 3", "diapers"),
        ("Gluten Free Brown Rice Crust Duo Cheese Pizza", "pizza"),
        ('Easy Grab 9"x13" Oblong Glass Bakeware', "bakeware"),
    ],
)
def test_head_noun_is_the_last_content_word_of_the_main_part(name: str, head: str) -> None:
    terms = name_terms(name)
    assert terms is not None and terms[0] == head


@pytest.mark.parametrize("name", ["100%", "12 oz", "Organic Original", "7UP", "Hershey's"])
def test_names_without_a_content_word_have_no_terms(name: str) -> None:
    assert name_terms(name) is None


def test_queries_are_lower_case_without_digits_units_or_marketing_words() -> None:
    rng = random.Random(0)
    product = Product(1, "Organic Large Grade AA Brown Eggs 12 ct", 24, 4)
    queries = {search_query_for(product, CATALOG, rng) for _ in range(200)}
    assert queries == {"eggs", "brown eggs"}


def test_weak_heads_keep_their_modifier() -> None:
    rng = random.Random(0)
    product = Product(1, "Buttermilk Pancake Mix", 24, 4)
    assert {search_query_for(product, CATALOG, rng) for _ in range(50)} == {"pancake mix"}


def test_unusable_names_fall_back_to_aisle_then_department_never_missing() -> None:
    rng = random.Random(0)
    assert search_query_for(Product(1, "100%", 24, 4), CATALOG, rng) == "fresh fruits"
    assert search_query_for(Product(1, "100%", 100, 4), CATALOG, rng) == "produce"
    assert search_query_for(Product(1, "100%", 100, 21), CATALOG, rng) is None


def test_query_draws_exactly_one_number_whatever_the_name() -> None:
    a, b = random.Random(9), random.Random(9)
    search_query_for(Product(1, "100%", 100, 21), CATALOG, a)
    search_query_for(Product(2, "Organic Strawberry Yogurt", 24, 4), CATALOG, b)
    assert a.random() == b.random()


@pytest.mark.parametrize(
    ("name", "query"),
    [
        ("Mint Chocolate Chip Ice Cream", "ice cream"),
        ("Organic Beef Hot Dogs", "hot dogs"),
        ("Extra Virgin Olive Oil", "olive oil"),
        ("Organic Half & Half", "half"),
    ],
)
def test_compound_heads_always_keep_the_word_before(name: str, query: str) -> None:
    rng = random.Random(0)
    assert {search_query_for(Product(1, name, 24, 4), CATALOG, rng) for _ in range(20)} == {query}
