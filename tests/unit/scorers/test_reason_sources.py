"""What the reasons of the top items are resolved from: the best search and the basket item
behind a co-occurrence, computed for the top rows only (exact cases, ties included)."""

from __future__ import annotations

import numpy as np

from scorers.featurize import Candidates


def _candidates(decayed=(), hits=None) -> Candidates:
    n = 3
    z = np.zeros(n)
    return Candidates(
        np.arange(1, n + 1),
        np.zeros((n, 1)),
        z,
        z,
        ("a", "b")[: len(decayed)],
        tuple(np.array(d, dtype=float) for d in decayed),
        hits,
    )


def test_search_best_is_the_first_search_with_the_highest_decayed_match():
    c = _candidates(decayed=([0.0, 0.5, 0.2], [0.0, 0.5, 0.4]))
    # row 0 matches nothing, row 1 ties (earlier search wins), row 2 matches "b" best
    assert [c.search_best(row) for row in (0, 1, 2)] == [-1, 0, 1]
    assert _candidates().search_best(0) == -1


def test_cooc_source_is_the_basket_item_with_the_strongest_neighbour_weight():
    # two basket context items (10, 20), two neighbours each: rows of the padded table
    at = np.array([0, 1, 0, 2])  # candidate index of each neighbour
    hit = np.array([True, True, True, False])  # the last one is not a candidate
    weight = np.array([0.5, 0.3, 0.5, 0.9])
    c = _candidates(hits=(at, hit, weight, np.array([10, 20])))
    assert c.cooc_source(0) == 20  # equal weights: the later basket item
    assert c.cooc_source(1) == 10
    assert c.cooc_source(2) == -1  # its only neighbour entry is not a hit
    assert _candidates().cooc_source(0) == -1
