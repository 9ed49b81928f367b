"""One evaluation run from orders to the result dict (no I/O; the CLI reads files and prints).

Leakage rule: the artifacts (co-occurrence, popularity, seeded states) and the model used to
score the test period are built from training orders only, i.e. every user's orders except the
last ``test_orders``; only test-period cart adds are scored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from loaders.instacart import Order, orders_to_events, split_test_orders
from schemas.events import Checkout, Event
from scorers.artifacts import Artifacts, build_artifacts
from scorers.evaluation.prequential import Prequential
from scorers.evaluation.summary import summarize
from scorers.evaluation.surfaces import summarize_surfaces
from scorers.model import LinearModel
from scorers.surfaces import Surface

if TYPE_CHECKING:  # pragma: no cover
    from loaders.catalog import Catalog

__all__ = ["evaluate", "test_period_events"]


def test_period_events(all_events: Sequence[Event], train_orders: Sequence[Order]) -> list[Event]:
    """The events after each user's last training checkout (searches of test orders included).

    Events of users without training orders are all test-period events.
    """
    train_ids = {o.order_id for o in train_orders}
    boundary: dict[int, int] = defaultdict(lambda: -1)
    for e in all_events:
        if isinstance(e, Checkout) and e.order_id in train_ids:
            boundary[e.user_id] = max(boundary[e.user_id], e.ts)
    return [e for e in all_events if e.ts > boundary[e.user_id]]


def evaluate(
    orders: Sequence[Order],
    catalog: Catalog,
    *,
    model: LinearModel,
    k: int = 10,
    test_orders: int = 1,
    search_rate: float = 0.0,
    seed: int = 0,
    artifacts: Artifacts | None = None,
    online: Any = None,
    progress: Callable[[int], None] | None = None,
    on_start: Callable[[int], None] | None = None,
    surfaces: Sequence[Surface] | None = None,
) -> dict[str, Any]:
    """Prequential evaluation of every method over the test period; the result dict.

    ``artifacts`` may be passed when already built from the *training* orders; ``surfaces``
    (default: the shipped declaration) says what each surface's view holds, as the worker's.
    """
    train, test = split_test_orders(orders, test_orders)
    art = artifacts if artifacts is not None else build_artifacts(train, catalog)
    art = art.with_model(model)
    events = test_period_events(
        orders_to_events(orders, catalog, search_rate=search_rate, seed=seed), train
    )
    if on_start is not None:
        on_start(len(events))
    run = Prequential(art, k=k, online=online, declared=surfaces)
    run.run(events, {o.order_id: o.product_ids for o in test}, progress)
    result = summarize(run, seed=seed)
    result["surfaces"] = summarize_surfaces(run, search_rate, seed=seed)
    result.update(
        test_orders=test_orders,
        search_rate=search_rate,
        seed=seed,
        model=model.version,
        n_train_orders=len(train),
        n_test_orders=len(test),
    )
    return result
