"""The per-query memo gives exactly the per-token matching it replaced."""

from __future__ import annotations

import numpy as np

from scorers.queryindex import N_SEARCH_CANDIDATES, new_query_memo, query_index


def _postings(art, token: str) -> set[int]:
    t = art.tokens[token]
    return set(art.post_ids[art.post_ptr[t] : art.post_ptr[t + 1]].tolist())


def test_match_fraction_counts_matching_tokens_over_all_query_words(artifacts):
    words = sorted(artifacts.tokens)[:40]
    a, b = words[3], words[17]
    query = f"{a} {b} zzzunknownword"
    qi = query_index(artifacts, query)
    in_a, in_b = _postings(artifacts, a), _postings(artifacts, b)
    pids = np.array(sorted(in_a | in_b | {1, 2, 3}), dtype=np.int64)
    expected = [((p in in_a) + (p in in_b)) / 3 for p in pids.tolist()]
    assert qi.match(pids).tolist() == expected
    assert qi.head == -1  # the last word is unknown


def test_candidates_are_the_most_popular_matches_of_each_word_and_of_the_head(artifacts):
    word = max(artifacts.tokens, key=lambda t: len(_postings(artifacts, t)))
    qi = query_index(artifacts, word)
    t = artifacts.tokens[word]
    top = artifacts.top_ids[artifacts.top_ptr[t] : artifacts.top_ptr[t + 1]][:N_SEARCH_CANDIDATES]
    head = artifacts.head_ids[artifacts.head_ptr[t] : artifacts.head_ptr[t + 1]]
    assert qi.head == t
    assert qi.candidates.tolist() == [*top.tolist(), *head[:N_SEARCH_CANDIDATES].tolist()]
    assert set(qi.candidates.tolist()) <= _postings(artifacts, word) | set(head.tolist())


def test_memo_reuses_the_resolved_query_and_drops_the_least_recently_used(artifacts):
    memo = new_query_memo()
    first = query_index(artifacts, "milk", memo)
    query_index(artifacts, "bread", memo)
    assert query_index(artifacts, "milk", memo) is first
    assert list(memo) == ["bread", "milk"]
    assert memo.nbytes == first.nbytes() + memo.get("bread", lambda: None).nbytes()
    memo.max_bytes = first.nbytes() + 1  # room for one query: the least recently used goes
    query_index(artifacts, "eggs", memo)
    assert list(memo) == ["eggs"]


def test_a_query_of_unknown_words_matches_nothing_and_adds_no_candidates(artifacts):
    qi = query_index(artifacts, "qqqq zzzz")
    assert qi.match(np.array([1, 2, 3])).tolist() == [0.0, 0.0, 0.0]
    assert len(qi.candidates) == 0


def test_head_noun_flag_equals_the_products_head_token_for_every_product(artifacts):
    # the lookup finds head-noun products among the query's matches: that relies on a head
    # noun being one of the product's name tokens, checked here over the whole catalogue
    every = np.arange(1, artifacts.n_products, dtype=np.int64)
    heads = [
        t for t in sorted(artifacts.tokens) if (artifacts.head_tok == artifacts.tokens[t]).any()
    ]
    for query in heads[:25] + [f"organic {h}" for h in heads[25:40]]:
        qi = query_index(artifacts, query)
        assert qi.head >= 0
        flag = qi.lookup(every)[:, 1]
        assert flag.tolist() == (artifacts.head_tok[every] == qi.head).astype(float).tolist()
