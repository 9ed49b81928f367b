"""What a shopper would type to find a product: the query of a synthetic search.

The Instacart data has no searches, so converters make some up (``Search(synthetic=True)``).
A made-up query should look like a real one: short, lower case, naming *what* the product is,
not its brand, size or marketing words. :func:`search_query_for` takes the **head noun** of the
product name (the last content word of its main part: ``"Organic Strawberry Yogurt"`` ->
``"yogurt"``), sometimes with the word before it (``"strawberry yogurt"``), and falls back to the
aisle name (then the department name) when the name gives nothing usable.

How the main part of a name is found (:func:`name_terms`):

1. bracketed parts are dropped (``"Sparkling Water (12 pack)"``);
2. the name is cut at `` - ``, ``,``, ``:`` and ``/``; the first piece with a content word wins
   (``"Greek Yogurt - Strawberry"`` -> ``"Greek Yogurt"``);
3. a piece is cut before ``with``, ``in``, ``for``, ``w/`` (``"Tuna in Water"`` -> ``"Tuna"``),
   and after a container word + ``of`` (``"Bag of Organic Bananas"`` -> ``"Organic Bananas"``);
4. words are runs of letters; digits, units (``oz``, ``ct``, ...), qualifiers (``organic``,
   ``gluten free``, ``low fat``, ...), possessives (brand-ish: ``Hershey's``) and words shorter than
   three letters are skipped.

Pure and deterministic: randomness only through the ``rng`` argument (a :class:`random.Random`;
``schemas`` imports only the standard library).
"""

from __future__ import annotations

import random
import re
from functools import lru_cache

from loaders.catalog import MISSING, Catalog, Product

__all__ = ["MODIFIER_PROBABILITY", "name_terms", "search_query_for"]

MODIFIER_PROBABILITY = 0.25
"""How often a query is two words (``"strawberry yogurt"``) instead of the head noun alone."""


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


_UNITS = _wordset(
    """oz ounce ounces fl lb lbs pound pounds ct count pk pack packs pc pcs piece pieces ml
    ltr liter liters litre gal gallon gallons qt quart quarts pt pint pints kg gr gm mg
    ea each dozen doz inch inches sz size sheet sqft ft cup cups serving servings per"""
)
_QUALIFIERS = _wordset(
    """organic organics natural naturals original originals classic classics premium gourmet
    fresh free gluten gmo non low reduced less lite light fat nonfat lowfat sodium calorie
    calories zero diet style flavor flavored flavors flavour flavoured variety assorted
    new improved family value mini minis large small medium jumbo big extra super ultra pure
    simply real homestyle traditional authentic certified kosher vegan raw plain regular mild
    spicy boneless skinless unsweetened sweetened salted unsalted lightly sliced whole
    grade the and with from made brand pasture raised farm fed wild caught cage range"""
)
"""Marketing and preparation words that never make a query on their own."""
_WEAK_HEADS = _wordset(
    """blend mix mixes kit variety assortment selection collection combo multipack product
    products pack packs food cream dogs half bar bars bags chunks bunch breast breasts crowns
    whites thins pops singles sticks slices strips bites rolls wash spray powder oil butter"""
)
"""Heads that say too little alone: kept with the word before (``"pancake mix"``)."""
_CONTAINERS = _wordset(
    """bag bags box boxes pack packs case jar jars bottle bottles can cans carton cartons loaf
    bunch head cup cups tub tubs sack dozen pint quart gallon container package"""
)

_BRACKETS = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_PIECES = re.compile(r"\s+[-\u2010-\u2015]\s+|[,:/;]")
_CUT_AFTER = re.compile(r"\s(?:with|in|for|w/)\s", re.IGNORECASE)
_OF = re.compile(r"\s+of\s+", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")


def _content_words(piece: str) -> list[str]:
    words = []
    for raw in _WORD.findall(piece):
        if "'" in raw or "’" in raw:  # possessives and brand-ish words
            continue
        word = raw.lower()
        if len(word) < 3 or word in _UNITS or word in _QUALIFIERS:
            words.append("")  # a gap: the next word is not this one's modifier
            continue
        words.append(word)
    return words


def _head_of(piece: str) -> tuple[str, str] | None:
    words = _content_words(piece)
    while words and not words[-1]:
        words.pop()
    if not words:
        return None
    head = words[-1]
    modifier = words[-2] if len(words) >= 2 else ""
    return head, modifier


@lru_cache(maxsize=65536)
def name_terms(name: str) -> tuple[str, str] | None:
    """``(head, modifier)`` of a product name (modifier ``""`` if none), or None if no words.

    >>> name_terms("Organic Strawberry Yogurt")
    ('yogurt', 'strawberry')
    >>> name_terms("Greek Yogurt - Strawberry, 5.3 oz")
    ('yogurt', 'greek')
    >>> name_terms("Bag of Organic Bananas"), name_terms("Tuna in Water")
    (('bananas', ''), ('tuna', ''))
    >>> name_terms("Hershey's Chocolate Creme Pie Singles")
    ('singles', 'pie')
    >>> name_terms("100% 12 oz") is None
    True
    """
    for piece in _PIECES.split(_BRACKETS.sub(" ", name)):
        parts = _OF.split(piece, maxsplit=1)
        if len(parts) == 2:
            before = _WORD.findall(parts[0])
            if before and before[-1].lower() in _CONTAINERS:
                piece = parts[1]
        main, *rest = _CUT_AFTER.split(f" {piece} ")
        for candidate in (main, *rest):
            terms = _head_of(candidate)
            if terms is not None:
                return terms
    return None


def search_query_for(product: Product, catalog: Catalog, rng: random.Random) -> str | None:
    """A query a shopper might type to find ``product``, or None if nothing usable.

    Draws exactly one number from ``rng`` whatever the outcome (so the draws of later products
    do not depend on this one's name). With probability :data:`MODIFIER_PROBABILITY` the query
    is "modifier head"; a weak head (``mix``, ``blend``...) always keeps its modifier. A name
    with no content word gives the aisle name, then the department name (never ``missing``).

    >>> from loaders.catalog import Catalog, Product
    >>> cat = Catalog({}, {24: "fresh fruits", 100: "missing"}, {4: "produce", 21: "missing"})
    >>> rng = random.Random(2)
    >>> [search_query_for(Product(1, "Organic Strawberry Yogurt", 24, 4), cat, rng)
    ...  for _ in range(4)]
    ['yogurt', 'yogurt', 'strawberry yogurt', 'strawberry yogurt']
    >>> search_query_for(Product(2, "Buttermilk Pancake Mix", 24, 4), cat, rng)
    'pancake mix'
    >>> search_query_for(Product(3, "100% 12 oz", 24, 4), cat, rng)
    'fresh fruits'
    >>> search_query_for(Product(4, "100%", 100, 21), cat, rng) is None
    True
    """
    draw = rng.random()
    terms = name_terms(product.name)
    if terms is None:
        for fallback in (
            catalog.aisles.get(product.aisle_id, MISSING),
            catalog.departments.get(product.department_id, MISSING),
        ):
            if fallback and fallback != MISSING:
                return fallback.lower()
        return None
    head, modifier = terms
    if modifier and modifier != head and (head in _WEAK_HEADS or draw < MODIFIER_PROBABILITY):
        return f"{modifier} {head}"
    return head
