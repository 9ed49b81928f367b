"""Compressed sparse rows of per-product neighbour lists: ``ptr`` (n + 1), ``ids``, ``w``.

Product ``p``'s neighbours are ``ids[ptr[p]:ptr[p + 1]]`` with weights ``w[...]``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["csr", "top_neighbours"]


def csr(
    groups: Iterable[tuple[int, np.ndarray, np.ndarray]], size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    counts = np.zeros(size, dtype=np.int64)
    ids_parts: list[np.ndarray] = []
    w_parts: list[np.ndarray] = []
    for key, ids, ws in groups:
        counts[key] = len(ids)
        ids_parts.append(ids)
        w_parts.append(ws)
    ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    ids = np.concatenate(ids_parts).astype(np.int32) if ids_parts else np.zeros(0, np.int32)
    ws = np.concatenate(w_parts).astype(np.float32) if w_parts else np.zeros(0, np.float32)
    return ptr, ids, ws


def top_neighbours(
    src: np.ndarray, dst: np.ndarray, w: np.ndarray, size: int, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR of the ``n`` highest-weight ``dst`` of every ``src`` (ties by ``dst``)."""
    if not len(src):
        return csr([], size)
    order_ = np.lexsort((dst, -w, src))
    src, dst, w = src[order_], dst[order_], w[order_]
    starts = np.searchsorted(src, np.unique(src))
    bounds = [*starts[1:], len(src)]
    groups = (
        (int(src[s]), dst[s : min(e, s + n)], w[s : min(e, s + n)])
        for s, e in zip(starts, bounds, strict=True)
    )
    return csr(groups, size)
