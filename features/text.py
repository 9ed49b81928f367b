"""Tokenisation shared by the search index (batch side) and query matching (stream side)."""

from __future__ import annotations

import re

__all__ = ["STOP_WORDS", "normalize_query", "tokenize"]

_WORD = re.compile(r"[a-z0-9]+")
STOP_WORDS = frozenset(
    {"a", "an", "and", "the", "of", "with", "in", "for", "to", "on", "or", "by", "oz", "ct", "lb"}
)


def _stem(word: str) -> str:
    # A very light plural folding so that "yogurts" finds "yogurt" and "berries" finds "berry".
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def tokenize(text: str) -> tuple[str, ...]:
    """Lower-cased, plural-folded word tokens without stop words or 1-letter words.

    >>> tokenize("Organic Strawberries, 16 oz")
    ('organic', 'strawberry', '16')
    >>> tokenize("Greek Yogurts & the Bananas")
    ('greek', 'yogurt', 'banana')
    """
    out: list[str] = []
    for word in _WORD.findall(text.lower()):
        if len(word) < 2 or word in STOP_WORDS:
            continue
        stem = _stem(word)
        if stem not in out:
            out.append(stem)
    return tuple(out)


def normalize_query(query: str, max_chars: int = 80) -> str:
    """The form a search is stored in the state: tokens joined by spaces, bounded length.

    >>> normalize_query("  Greek   YOGURTS ")
    'greek yogurt'
    """
    return " ".join(tokenize(query))[:max_chars]
