"""What a search query means for scoring, computed once per distinct query and memoised.

A live search is rescored on every event of the session (its weight decays, the candidates
change), but what the query *matches* does not change: its token ids, the products to add as
candidates, and every product's match fraction (matching tokens / tokens in the query). This
module turns a query into a :class:`QueryIndex` once: a byte per catalogue product says how
it matches, so matching the candidates is two gathers per live search (no search in a sorted
list, no work per query token).

The memo lives on the :class:`~scorers.artifacts.Artifacts` (derived data: losing it costs one
recomputation) and is keyed by the query string, so outputs equal a fresh computation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import numpy as np

from scorers.lru import LRUMemo


class SearchArrays(Protocol):
    """The search index arrays of the batch artifacts (:class:`~scorers.artifacts.Artifacts`
    has them), named here so the two modules do not import each other."""

    tokens: Mapping[str, int]
    top_ptr: np.ndarray
    top_ids: np.ndarray
    head_ptr: np.ndarray
    head_ids: np.ndarray
    post_ptr: np.ndarray
    post_ids: np.ndarray
    head_tok: np.ndarray

    @property
    def n_products(self) -> int:
        """How many product ids there are (ids are indexes)."""
        ...


__all__ = ["N_SEARCH_CANDIDATES", "QueryIndex", "new_query_memo", "query_index"]

N_SEARCH_CANDIDATES = 20
"""Most popular matches of each search word (and of its head noun) added as candidates."""
MEMO_SIZE = 1024
MEMO_BYTES = 64 << 20
"""Bounds of the query memo: 1,024 queries or 64 MB. A resolved query holds a byte per
catalogue product, so that is 1,024 queries for the Instacart catalogue (~50 KB each) and fewer
for a bigger one (67 for a million products)."""


@dataclass(frozen=True, slots=True)
class QueryIndex:
    """A query resolved against the artifacts' search index."""

    head: int
    """Token id of the query's last word when known (a head noun candidate), else -1."""
    candidates: np.ndarray
    """Products this query adds to the candidates (may repeat; the caller deduplicates)."""
    codes: np.ndarray
    """Per product id (dense, one byte each; empty when nothing matches): 2 x the number of
    query words in its name, plus 1 when the query's last word is its head noun (a head noun
    is a word of the name, so such a product always matches). 0: no match."""
    table: np.ndarray
    """``(codes, 2)``: what a code means: the match fraction (matching words / words in the
    query; unknown words count in the denominator) and the head-noun flag."""

    def nbytes(self) -> int:
        """Bytes held by the arrays (the codes dominate: one per catalogue product)."""
        return self.candidates.nbytes + self.codes.nbytes + self.table.nbytes

    def lookup(self, cands: np.ndarray) -> np.ndarray:
        """``(len(cands), 2)``: the match fraction and head-noun flag of each of ``cands``
        (product ids below the catalogue size), in two gathers.

        >>> codes = np.zeros(10, np.uint8)
        >>> codes[[3, 7]] = [4, 3]  # both words of a 2-word query / one word, the head noun
        >>> qi = QueryIndex(7, np.zeros(0, np.int64), codes, _code_table(2))
        >>> qi.lookup(np.array([1, 3, 7, 9])).tolist()
        [[0.0, 0.0], [1.0, 0.0], [0.5, 1.0], [0.0, 0.0]]
        """
        if len(self.codes) == 0:
            return np.zeros((len(cands), 2))
        return self.table.take(self.codes[cands], axis=0)

    def match(self, cands: np.ndarray) -> np.ndarray:
        """Match fraction of each of ``cands`` (0 for products matching no word)."""
        return self.lookup(cands)[:, 0]


@lru_cache(maxsize=64)
def _code_table(n_words: int) -> np.ndarray:
    """What each code of a query of ``n_words`` words means (shared, read-only)."""
    code = np.arange(2 * (n_words + 1))
    table = np.column_stack((code // 2 / max(n_words, 1), code % 2)).astype(np.float64)
    table.flags.writeable = False
    return table


def _slice(ptr: np.ndarray, data: np.ndarray, key: int) -> np.ndarray:
    if 0 <= key < len(ptr) - 1:
        return data[ptr[key] : ptr[key + 1]]
    return data[:0]


def _build(art: SearchArrays, query: str) -> QueryIndex:
    toks = [art.tokens.get(t, -1) for t in query.split()]
    known = [t for t in toks if t >= 0]
    parts = [_slice(art.top_ptr, art.top_ids, t)[:N_SEARCH_CANDIDATES] for t in known]
    head = toks[-1] if toks and toks[-1] >= 0 else -1
    if head >= 0:
        parts.append(_slice(art.head_ptr, art.head_ids, head)[:N_SEARCH_CANDIDATES])
    # a posting lists each product once, so one += per word counts the words a product has
    dtype = np.uint8 if len(toks) < 127 else np.uint16
    codes = np.zeros(art.n_products if known else 0, dtype=dtype)
    for t in known:
        codes[_slice(art.post_ptr, art.post_ids, t)] += 2
    if head >= 0:  # products whose head noun is the last word (their names have the word)
        has_word = _slice(art.post_ptr, art.post_ids, head)
        codes[has_word[art.head_tok[has_word] == head]] += 1
    return QueryIndex(
        head,
        np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64),
        codes,
        _code_table(len(toks)),
    )


def query_index(
    art: SearchArrays, query: str, memo: LRUMemo[QueryIndex] | None = None
) -> QueryIndex:
    """The :class:`QueryIndex` of ``query`` (memoised in ``memo`` when given)."""
    if memo is None:
        return _build(art, query)
    return memo.get(query, lambda: _build(art, query))


def new_query_memo() -> LRUMemo[QueryIndex]:
    """An empty memo of resolved queries, bounded by ``MEMO_SIZE`` queries and ``MEMO_BYTES``.

    >>> memo, codes = new_query_memo(), np.zeros(1_000_000, np.uint8)
    >>> for i in range(100):
    ...     _ = memo.get(f"q{i}", lambda: QueryIndex(-1, np.zeros(0, np.int64), codes, codes[:0]))
    >>> len(memo), memo.nbytes <= MEMO_BYTES
    (67, True)
    """
    return LRUMemo(MEMO_SIZE, MEMO_BYTES, QueryIndex.nbytes)
