"""Every feature the scorer uses, declared once (name, scope, decay, version, meaning).

The scorer (``scorers.featurize``) computes exactly these columns, in this order; a model file
names the features it was trained on, and a feature missing from the model (or a model feature
unknown here) simply gets weight 0, so old models keep working when features are added.

Scopes: ``user`` (user x item, from the long-term history), ``session`` (the open basket and
recent searches), ``item`` (catalog / batch statistics of the product), ``global``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FEATURES", "FEATURE_NAMES", "Feature", "feature"]


@dataclass(frozen=True, slots=True)
class Feature:
    """Declaration of one scoring feature."""

    name: str
    scope: str
    decay: str
    version: int
    meaning: str


FEATURES: tuple[Feature, ...] = (
    Feature("u_log_count", "user", "none", 1, "log(1 + times the user bought the product)"),
    Feature("u_share", "user", "none", 1, "share of the user's orders that contain the product"),
    Feature("u_new", "user", "none", 1, "1 if the user never bought the product"),
    Feature("u_in_last_order", "user", "none", 1, "1 if the product was in the last order"),
    Feature(
        "u_orders_since",
        "user",
        "orders",
        1,
        "log(1 + n), n = 1 + orders placed after the last one containing the product"
        " (n = 1, so log 2, when it was in the last order); 0 if never bought",
    ),
    Feature(
        "u_overdue_orders",
        "user",
        "orders",
        1,
        "bought 2+ times: log(n / usual orders between purchases), n as in u_orders_since,"
        " usual = (last order - first order) / (count - 1), at least 1; clipped to [-3, 3];"
        " else 0",
    ),
    Feature(
        "u_overdue_orders_abs",
        "user",
        "orders",
        1,
        "|u_overdue_orders|: distance from the usual repurchase point",
    ),
    Feature(
        "u_overdue_days",
        "user",
        "event time",
        1,
        "bought 2+ times: log((1 + days since last purchase) / (1 + usual days"
        " between purchases)), usual = (last - first purchase time) / (count - 1), clipped to"
        " [-3, 3]; else 0",
    ),
    Feature("u_days_since", "user", "event time", 1, "log(1 + days since last purchase)"),
    Feature(
        "u_streak",
        "user",
        "orders",
        1,
        "share of orders since first purchase that contain the product",
    ),
    Feature(
        "u_pos_match",
        "session",
        "none",
        1,
        "-|log(1+usual cart position) - log(1+current cart position)| for bought products",
    ),
    Feature("u_share_x_pos0", "session", "none", 1, "u_share when the basket is empty"),
    Feature("u_share_x_logpos", "session", "none", 1, "u_share x log(1 + basket size)"),
    Feature(
        "u_share_x_days",
        "user",
        "event time",
        1,
        "u_share x log(1 + days since the user's last order)",
    ),
    Feature(
        "r_freq_decay",
        "user",
        "orders (0.7 per order)",
        1,
        "presence in the user's recent orders, each weighted 0.7^age (newest: age 0), over"
        " the sum of the weights (1 when in all of them)",
    ),
    Feature("r_freq_decay_09", "user", "orders (0.9 per order)", 1, "r_freq_decay, slower decay"),
    Feature(
        "u_rank_freq",
        "user",
        "orders",
        1,
        "log(1 + rank of the product among the user's by recency-weighted frequency)",
    ),
    Feature(
        "u_new_x_explore",
        "user",
        "none",
        1,
        "u_new x (distinct products in the user's history, at most max_history kept)"
        " / (items bought in all the user's orders); 0 before the first order",
    ),
    Feature("r_last3", "user", "orders", 1, "share of the last 3 orders containing the product"),
    Feature(
        "r_basket_knn",
        "session",
        "none",
        1,
        "vote of the user's recent orders, weighted by their overlap with the basket",
    ),
    Feature(
        "r_next_after",
        "session",
        "none",
        1,
        "how often the product followed the last added item in the user's recent carts",
    ),
    Feature(
        "aisle_next",
        "session",
        "none",
        1,
        "P(next add is from the product's aisle | aisle of the last add), global",
    ),
    Feature(
        "aisle_missing",
        "session",
        "none",
        1,
        "aisle_aff when no basket item is from the product's aisle yet",
    ),
    Feature(
        "cooc",
        "session",
        "basket recency",
        1,
        "co-occurrence with basket items, recent adds weighted higher",
    ),
    Feature("cooc_last", "session", "none", 1, "co-occurrence with the last product added"),
    Feature("cooc_x_new", "session", "basket recency", 1, "cooc for never-bought products"),
    Feature("aisle_aff", "user", "none", 1, "share of the user's purchases in the product's aisle"),
    Feature("basket_aisle", "session", "none", 1, "share of basket items in the product's aisle"),
    Feature(
        "search_match",
        "session",
        "half-life",
        1,
        "best match of the product with a recent search, decayed by event time",
    ),
    Feature(
        "search_pending", "session", "none", 1, "match with a search typed after the last cart add"
    ),
    Feature(
        "search_head",
        "session",
        "half-life",
        1,
        "1 x search decay when the last word of a live search is the product's head noun",
    ),
    Feature("search_x_pop", "session", "half-life", 1, "search_match x g_pop"),
    Feature("search_x_hist", "session", "half-life", 1, "search_match x u_log_count"),
    Feature("g_pop", "item", "none", 1, "log(1 + shoppers who bought it) / log(1 + shoppers)"),
    Feature("g_reorder", "item", "none", 1, "smoothed global reorder rate of the product"),
    Feature("g_pop_x_new", "item", "none", 1, "g_pop for never-bought products"),
)

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)


def feature(name: str) -> Feature:
    """The declaration of one feature by name.

    >>> feature("cooc").scope
    'session'
    """
    for f in FEATURES:
        if f.name == name:
            return f
    raise KeyError(name)
