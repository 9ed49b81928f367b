"""Batch artifacts: what ``stream-app build`` computes from historical orders and the worker loads.

* catalog arrays indexed by product id: aisle, department, product name (for reasons);
* popularity (shoppers who bought the product) and a smoothed global reorder rate;
* item co-occurrence: for every product its top neighbours ``P(b in order | a in order)`` as
  CSR arrays (``nbr_ptr``, ``nbr_ids``, ``nbr_w``), counted once per shopper so one heavy
  shopper's habits do not dominate;
* discovery neighbours (``disc_ptr``, ``disc_ids``, ``disc_w``): a longer list per product of
  the same pairs, weighted with a mild lift (``scorers.discovery``), where the "complete your
  basket" surface finds items a shopper never bought;
* a search index over product and aisle names: token -> product ids (sorted, for membership)
  and token -> the most popular matching products (for candidate generation);
* per-user states seeded from the orders with the same ``apply`` fold as the stream;
* the linear model.

On disk (``save``/``load``): ``arrays.npz`` (uncompressed, loads in milliseconds),
``meta.json`` (model, config, tokens), ``names.json`` and the seeded states (``states.bin`` +
``states_index.npz``: read from disk per shopper and decoded lazily by
:meth:`Artifacts.seed_state`, see :mod:`scorers.seeds`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from features.config import DEFAULT_CONFIG, FeatureConfig
from features.seed import fold
from features.state import UserState, empty_state
from features.text import head_token, tokenize
from schemas.errors import InvalidData
from scorers.csr import top_neighbours
from scorers.discovery import discovery_neighbours
from scorers.lru import LRUMemo
from scorers.model import LinearModel, default_model
from scorers.queryindex import QueryIndex, new_query_memo
from scorers.seeds import SeedFile, write_seeds
from scorers.userview import UserView, new_view_memo

if TYPE_CHECKING:  # pragma: no cover
    from loaders.catalog import Catalog
    from loaders.instacart import Order

__all__ = ["ARTIFACTS_FORMAT", "Artifacts", "build_artifacts", "seed_states"]

ARTIFACTS_FORMAT = 5
N_NEIGHBOURS = 30
N_POPULAR = 200
N_TOKEN_TOP = 40

_ARRAYS = (
    "aisle",
    "dept",
    "pop",
    "reorder",
    "popular",
    "nbr_ptr",
    "nbr_ids",
    "nbr_w",
    "post_ptr",
    "post_ids",
    "top_ptr",
    "top_ids",
    "aisle_next",
    "head_tok",
    "head_ptr",
    "head_ids",
    "disc_ptr",
    "disc_ids",
    "disc_w",
)


@dataclass
class Artifacts:
    """Everything the scorer needs besides the user's state (read-only once built)."""

    aisle: np.ndarray
    dept: np.ndarray
    pop: np.ndarray
    reorder: np.ndarray
    popular: np.ndarray
    nbr_ptr: np.ndarray
    nbr_ids: np.ndarray
    nbr_w: np.ndarray
    tokens: dict[str, int]
    post_ptr: np.ndarray
    post_ids: np.ndarray
    top_ptr: np.ndarray
    top_ids: np.ndarray
    aisle_next: np.ndarray
    head_tok: np.ndarray
    """Token id of each product's head noun (what it *is*: "yogurt"), -1 when none."""
    head_ptr: np.ndarray
    head_ids: np.ndarray
    """Head token -> its most popular products (CSR, popularity order)."""
    disc_ptr: np.ndarray
    disc_ids: np.ndarray
    disc_w: np.ndarray
    """Discovery neighbours of each product (CSR, strongest first; ``scorers.discovery``)."""
    names: list[str]
    aisle_names: dict[int, str]
    model: LinearModel = field(default_factory=default_model)
    config: FeatureConfig = DEFAULT_CONFIG
    n_users: int = 0
    states: Mapping[int, bytes] = field(default_factory=dict, repr=False)
    """Serialised seed state per known user: a dict when built, a :class:`SeedFile` when
    loaded (read from disk per lookup, so a million shoppers' seeds stay out of memory)."""
    meta: dict[str, Any] = field(default_factory=dict)
    _weights: np.ndarray | None = field(default=None, repr=False, compare=False)
    _derived: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """Arrays derived from the ones above on first use, shared by ``with_model`` copies."""
    views: LRUMemo[UserView] = field(default_factory=new_view_memo, repr=False, compare=False)
    """Memo of per-user views (``scorers.userview``), shared by ``with_model`` copies."""
    queries: LRUMemo[QueryIndex] = field(default_factory=new_query_memo, repr=False, compare=False)
    """Memo of resolved search queries (``scorers.queryindex``), shared likewise."""
    n_aisles: int = field(default=0, init=False)
    """Size of aisle-indexed arrays (max aisle id + 1)."""

    def __post_init__(self) -> None:
        self.n_aisles = int(self.aisle.max(initial=0)) + 1

    @property
    def n_products(self) -> int:
        """Size of the product-indexed arrays (max product id + 1)."""
        return len(self.aisle)

    def weights(self) -> np.ndarray:
        """Model weights aligned with the declared features (cached)."""
        if self._weights is None:
            self._weights = self.model.vector()
        return self._weights

    def neighbour_table(self) -> tuple[np.ndarray, np.ndarray]:
        """The neighbour lists as dense ``(n_products, width)`` arrays (ids, weights), padded
        with product 0 and weight 0: one gather per basket context instead of a CSR walk.
        Built on first use from the CSR arrays, shared by ``with_model`` copies."""
        table = self._derived.get("nbr_table")
        if table is None:
            lens = np.diff(self.nbr_ptr)
            width = max(int(lens.max(initial=0)), 1)
            ids = np.zeros((len(lens), width), dtype=np.int64)
            w = np.zeros((len(lens), width), dtype=self.nbr_w.dtype)
            rows = np.repeat(np.arange(len(lens)), lens)
            cols = np.arange(len(self.nbr_ids)) - np.repeat(self.nbr_ptr[:-1], lens)
            ids[rows, cols] = self.nbr_ids
            w[rows, cols] = self.nbr_w
            table = self._derived["nbr_table"] = (ids, w)
        return table

    def with_model(self, model: LinearModel) -> Artifacts:
        """The same artifacts scoring with another model."""
        from dataclasses import replace

        return replace(self, model=model, _weights=None)

    def seed_state(self, user_id: int) -> UserState | None:
        """The user's state seeded from the batch orders, or None for an unknown user."""
        raw = self.states.get(user_id)
        return None if raw is None else UserState.from_bytes(raw)

    def name_of(self, product_id: int) -> str:
        """Product name for reasons ("" when unknown)."""
        return self.names[product_id] if 0 <= product_id < len(self.names) else ""

    def known_users(self) -> list[int]:
        """Users with a seeded state, ascending."""
        return sorted(self.states)

    # ------------------------------------------------------------------ persistence
    def save(self, out_dir: Path) -> None:
        """Write the artifacts to a directory (created if needed)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        np.savez(out / "arrays.npz", **{name: getattr(self, name) for name in _ARRAYS})
        write_seeds(out, ((u, self.states[u]) for u in sorted(self.states)))
        (out / "names.json").write_bytes(orjson.dumps(self.names))
        meta = {
            "format": ARTIFACTS_FORMAT,
            "model": self.model.to_dict(),
            "config": {k: getattr(self.config, k) for k in self.config.__slots__},
            "tokens": sorted(self.tokens, key=self.tokens.__getitem__),
            "aisle_names": {str(k): v for k, v in self.aisle_names.items()},
            "n_users": self.n_users,
            "meta": self.meta,
        }
        (out / "meta.json").write_bytes(orjson.dumps(meta))

    @classmethod
    def load(cls, in_dir: Path) -> Artifacts:
        """Read artifacts written by :meth:`save`; :class:`InvalidData` when incomplete."""
        d = Path(in_dir)
        try:
            meta = orjson.loads((d / "meta.json").read_bytes())
            if meta.get("format") != ARTIFACTS_FORMAT:
                raise InvalidData(
                    f"{d}: artifacts format {meta.get('format')!r} is not "
                    f"{ARTIFACTS_FORMAT}; rebuild them"
                )
            with np.load(d / "arrays.npz") as z:
                arrays = {name: z[name] for name in _ARRAYS}
            states = SeedFile.open(d)
            names = orjson.loads((d / "names.json").read_bytes())
        except (OSError, KeyError, ValueError) as exc:
            raise InvalidData(f"cannot load artifacts from {d}: {exc}") from exc
        return cls(
            **arrays,
            tokens={t: i for i, t in enumerate(meta["tokens"])},
            names=names,
            aisle_names={int(k): v for k, v in meta["aisle_names"].items()},
            model=LinearModel.from_dict(meta["model"], str(d / "meta.json")),
            config=FeatureConfig(**meta["config"]),
            n_users=int(meta["n_users"]),
            states=states,
            meta=dict(meta.get("meta", {})),
        )


# ---------------------------------------------------------------------- building
def seed_states(
    orders: Sequence[Order], catalog: Catalog, config: FeatureConfig = DEFAULT_CONFIG
) -> dict[int, UserState]:
    """Every user's state after replaying their orders (``orders_to_events`` + ``apply``)."""
    from loaders.instacart import orders_to_events

    by_user: dict[int, list[Any]] = defaultdict(list)
    for event in orders_to_events(orders, catalog):
        by_user[event.user_id].append(event)
    return {uid: fold(empty_state(uid), evs, config) for uid, evs in sorted(by_user.items())}


def _pair_counts(orders: Sequence[Order], size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(pair keys a * size + b, users who bought a and b in one order)``, pairs counted once
    per user so one heavy shopper's habits do not dominate."""
    keys: list[np.ndarray] = []
    user_pairs: list[np.ndarray] = []
    current_user = None
    for order in orders:
        if order.user_id != current_user:
            if user_pairs:
                keys.append(np.unique(np.concatenate(user_pairs)))
            user_pairs, current_user = [], order.user_id
        items = np.unique(np.asarray(order.product_ids, dtype=np.int64))
        if len(items) < 2:
            continue
        a, b = np.meshgrid(items, items, indexing="ij")
        mask = a != b
        user_pairs.append(a[mask] * size + b[mask])
    if user_pairs:
        keys.append(np.unique(np.concatenate(user_pairs)))
    if not keys:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.unique(np.concatenate(keys), return_counts=True)


def _cooccurrence(
    pairs: np.ndarray, counts: np.ndarray, size: int, user_pop: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top ``N_NEIGHBOURS`` per product by P(b | a) ~ users of a and b together / users of a."""
    src = pairs // size
    return top_neighbours(src, pairs % size, counts / (user_pop[src] + 3.0), size, N_NEIGHBOURS)


def _transitions(prev: np.ndarray, nxt: np.ndarray, n: int, alpha: float = 10.0) -> np.ndarray:
    counts = np.zeros((n, n), dtype=np.float64)
    np.add.at(counts, (prev, nxt), 1.0)
    prior = (counts.sum(axis=0) + 1.0) / (counts.sum() + n)
    return ((counts + alpha * prior) / (counts.sum(axis=1, keepdims=True) + alpha)).astype(
        np.float32
    )


def _aisle_transitions(orders: Sequence[Order], aisle: np.ndarray) -> np.ndarray:
    """Aisle transition matrix between consecutive cart adds."""
    prev_parts, next_parts = [], []
    for order in orders:
        items = np.asarray(order.product_ids, dtype=np.int64)
        if len(items) >= 2:
            prev_parts.append(items[:-1])
            next_parts.append(items[1:])
    n_a = int(aisle.max(initial=0)) + 1
    if not prev_parts:
        return np.full((n_a, n_a), 1.0 / n_a, np.float32)
    prev, nxt = np.concatenate(prev_parts), np.concatenate(next_parts)
    return _transitions(aisle[prev], aisle[nxt], n_a)


def build_artifacts(
    orders: Sequence[Order],
    catalog: Catalog,
    model: LinearModel | None = None,
    config: FeatureConfig = DEFAULT_CONFIG,
    *,
    with_states: bool = True,
) -> Artifacts:
    """Compute every batch artifact from historical orders (sorted by user, order number).

    ``with_states=False`` skips seeding user states (training builds only what it scores with).
    """
    ids, aisles, depts = catalog.columns()
    max_pid = max([*ids, *(p for o in orders for p in o.product_ids)], default=0)
    size = max_pid + 1
    aisle = np.zeros(size, dtype=np.int16)
    dept = np.zeros(size, dtype=np.int16)
    aisle[ids] = aisles
    dept[ids] = depts
    names = [""] * size
    for pid in ids:
        names[pid] = catalog.name_of(pid)

    # popularity by shoppers, reorder rate by purchases
    buyers = np.zeros(size, dtype=np.float64)
    purchases = np.zeros(size, dtype=np.float64)
    reorders = np.zeros(size, dtype=np.float64)
    seen: set[int] = set()
    current_user = None
    users = 0
    for order in orders:
        if order.user_id != current_user:
            current_user, seen = order.user_id, set()
            users += 1
        for pid in order.product_ids:
            purchases[pid] += 1
            if pid in seen:
                reorders[pid] += 1
            else:
                seen.add(pid)
                buyers[pid] += 1
    global_rate = reorders.sum() / max(purchases.sum(), 1.0)
    reorder = ((reorders + 5.0 * global_rate) / (purchases + 5.0)).astype(np.float32)
    pop = (np.log1p(buyers) / np.log1p(max(users, 1))).astype(np.float32)
    popular = np.lexsort((np.arange(size), -buyers))[:N_POPULAR]
    popular = popular[buyers[popular] > 0].astype(np.int32)

    pairs, pair_users = _pair_counts(orders, size)
    nbr_ptr, nbr_ids, nbr_w = _cooccurrence(pairs, pair_users, size, buyers)
    disc_ptr, disc_ids, disc_w = discovery_neighbours(pairs, pair_users, size, buyers)
    aisle_next = _aisle_transitions(orders, aisle)

    # search index over product and aisle names
    postings: dict[str, list[int]] = defaultdict(list)
    aisle_tokens = {a: tokenize(name) for a, name in catalog.aisles.items()}
    for pid, a in zip(ids, aisles, strict=True):
        for tok in dict.fromkeys((*tokenize(names[pid]), *aisle_tokens.get(a, ()))):
            postings[tok].append(pid)
    tokens = {tok: i for i, tok in enumerate(sorted(postings))}
    post = [np.asarray(postings[t], dtype=np.int32) for t in sorted(postings)]
    post_ptr = np.concatenate([[0], np.cumsum([len(p) for p in post])]).astype(np.int64)
    post_ids = np.concatenate(post) if post else np.zeros(0, np.int32)
    tops = [p[np.lexsort((p, -buyers[p]))[:N_TOKEN_TOP]] for p in post]
    top_ptr = np.concatenate([[0], np.cumsum([len(t) for t in tops])]).astype(np.int64)
    top_ids = np.concatenate(tops).astype(np.int32) if tops else np.zeros(0, np.int32)

    head_tok = np.full(size, -1, dtype=np.int32)
    for pid in ids:
        head = head_token(names[pid])
        if head is not None and head in tokens:
            head_tok[pid] = tokens[head]
    by_head: dict[int, list[int]] = defaultdict(list)
    for pid in np.flatnonzero(head_tok >= 0).tolist():
        by_head[int(head_tok[pid])].append(pid)
    heads = [np.asarray(by_head.get(t, []), dtype=np.int64) for t in range(len(tokens))]
    heads = [h[np.lexsort((h, -buyers[h]))[:N_TOKEN_TOP]] for h in heads]
    head_ptr = np.concatenate([[0], np.cumsum([len(h) for h in heads])]).astype(np.int64)
    head_ids = np.concatenate(heads).astype(np.int32) if heads else np.zeros(0, np.int32)

    states: dict[int, bytes] = {}
    if with_states:
        states = {u: s.to_bytes() for u, s in seed_states(orders, catalog, config).items()}
    return Artifacts(
        aisle=aisle,
        dept=dept,
        pop=pop,
        reorder=reorder,
        popular=popular,
        nbr_ptr=nbr_ptr,
        nbr_ids=nbr_ids,
        nbr_w=nbr_w.astype(np.float32),
        tokens=tokens,
        post_ptr=post_ptr,
        post_ids=post_ids,
        top_ptr=top_ptr,
        top_ids=top_ids,
        aisle_next=aisle_next,
        head_tok=head_tok,
        head_ptr=head_ptr,
        head_ids=head_ids,
        disc_ptr=disc_ptr,
        disc_ids=disc_ids,
        disc_w=disc_w,
        names=names,
        aisle_names=dict(catalog.aisles),
        model=model if model is not None else default_model(),
        config=config,
        n_users=users,
        states=states,
        meta={"n_orders": len(orders), "n_users": users},
    )
