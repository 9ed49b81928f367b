"""``normalize_query`` bounds a long search by dropping its first words, never its last ones
(the head noun: what the shopper is looking for) and never cutting a word."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from features import apply, empty_state
from features.text import head_token, normalize_query, tokenize
from schemas.events import Search

LONG = (
    "organic unsweetened plain whole milk grass fed probiotic cultured lowfat vanilla bean"
    " family size greek yogurt"
)


def test_a_long_query_keeps_its_last_whole_words():
    assert len(" ".join(tokenize(LONG))) > 80
    q = normalize_query(LONG)
    assert len(q) <= 80
    assert q == q.strip()
    assert q.endswith("family size greek yogurt")
    assert set(q.split()) <= set(tokenize(LONG))  # whole tokens only
    assert head_token(q) == "yogurt"
    # the stored search is the bounded one
    s = apply(empty_state(1), Search("s", 1, LONG, 1_000))
    assert s.searches == ((q, 1_000),)


def test_short_queries_are_unchanged():
    assert normalize_query("Greek Yogurts") == "greek yogurt"
    q = " ".join(["ab"] * 3)
    assert normalize_query(q) == "ab"  # tokenize drops repeats, as before
    assert normalize_query("", 10) == ""


@given(st.lists(st.from_regex(r"[a-z]{2,12}", fullmatch=True), max_size=30), st.integers(1, 90))
def test_bounded_whole_token_suffix(words, limit):
    tokens = tokenize(" ".join(words))
    q = normalize_query(" ".join(words), limit)
    assert len(q) <= limit and q == q.strip()
    full = " ".join(tokens)
    if len(full) <= limit:
        assert q == full
    elif q and len(tokens[-1]) <= limit:
        kept = tuple(q.split())
        assert kept == tokens[len(tokens) - len(kept) :]  # a suffix of whole tokens...
        assert len(" ".join(tokens[len(tokens) - len(kept) - 1 :])) > limit  # ...the longest
    elif tokens:
        assert q == tokens[-1][:limit]
