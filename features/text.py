"""Tokenisation shared by the search index (batch side) and query matching (stream side)."""

from __future__ import annotations

import re

__all__ = ["STOP_WORDS", "head_token", "normalize_query", "tokenize"]

_WORD = re.compile(r"[a-z0-9]+")
_MAIN_PART = re.compile(r"\s+-\s+|[,(:/]|\s(?:with|in|for)\s", re.IGNORECASE)
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
    """The form a search is stored in the state: tokens joined by spaces, at most
    ``max_chars`` long. A longer query keeps its *last* whole tokens (the head noun is at the
    end: "... greek yogurt"), dropping tokens from the left; a single token longer than the
    limit keeps its first ``max_chars`` characters.

    >>> normalize_query("  Greek   YOGURTS ")
    'greek yogurt'
    >>> normalize_query("Organic Unsweetened Vanilla Bean Whole Milk Greek Yogurt", 20)
    'milk greek yogurt'
    """
    tokens = tokenize(query)
    size = sum(map(len, tokens)) + len(tokens) - 1  # of the joined string
    start = 0
    while size > max_chars and start < len(tokens) - 1:
        size -= len(tokens[start]) + 1
        start += 1
    return " ".join(tokens[start:])[:max_chars]


def head_token(name: str) -> str | None:
    """The head noun of a product name: the last word of its main part, i.e. what the product
    *is* (shoppers search for that: "yogurt", rarely for a brand or a size).

    >>> head_token("Organic Strawberry Yogurt - 32 oz"), head_token("Tuna in Water")
    ('yogurt', 'tuna')
    """
    main = _MAIN_PART.split(name, maxsplit=1)[0]
    words = [t for t in tokenize(main) if not t.isdigit()]
    return words[-1] if words else None
