"""The followers of a product, computed on demand, are exactly the per-checkout table's."""

from __future__ import annotations

import numpy as np

from features import UserState
from scorers.userview import user_view


def _followers_table(v) -> dict[int, tuple[np.ndarray, np.ndarray, int]]:
    """The table the view used to build at every checkout (reference implementation)."""
    rows: dict[int, list[int]] = {}
    weights: dict[int, list[float]] = {}
    times: dict[int, int] = {}
    f, fr, fo = v.flat.tolist(), v.flat_row.tolist(), v.oidx.tolist()
    for i, pid in enumerate(f):
        times[pid] = times.get(pid, 0) + 1
        for step, w in ((1, 1.0), (2, 0.5)):
            j = i + step
            if j < len(f) and fo[j] == fo[i] and fr[j] >= 0:
                rows.setdefault(pid, []).append(fr[j])
                weights.setdefault(pid, []).append(w)
    return {p: (np.array(rows[p], dtype=np.int64), np.array(weights[p]), times[p]) for p in rows}


def test_followers_on_demand_equal_the_checkout_table(artifacts) -> None:
    checked = 0
    for user in artifacts.known_users():
        state: UserState = artifacts.seed_state(user)
        if not len(state.history):
            continue
        v = user_view(state, artifacts.aisle, artifacts.n_aisles)
        table = _followers_table(v)
        for pid in {*v.flat.tolist(), 10**6}:
            got, want = v.followers(pid), table.get(pid)
            if want is None:
                assert got is None
                continue
            assert got is not None
            assert got[0].dtype == want[0].dtype and got[1].dtype == want[1].dtype
            assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
            assert got[2] == want[2]
            checked += 1
    assert checked > 100
