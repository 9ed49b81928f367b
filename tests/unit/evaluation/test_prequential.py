"""Claims about the prequential evaluation: leakage-free, test-then-apply, issue-4 JSON shape."""

from __future__ import annotations

from dataclasses import replace

import orjson
import pytest

from loaders.catalog import Catalog, Product
from loaders.instacart import Order, split_test_orders
from scorers import build_artifacts
from scorers.evaluation.run import evaluate
from scorers.model import HAND_WEIGHTS, LinearModel, default_model
from stream_app.cli import main

MODEL = LinearModel.from_weights(HAND_WEIGHTS, version="hand")
NEW = 99  # bought by nobody before the test period


def _world():
    names = {
        1: "Organic Bananas",
        2: "Whole Milk",
        3: "Greek Yogurt",
        4: "Sourdough Bread",
        5: "Baby Spinach",
        NEW: "Sparkling Water",
    }
    catalog = Catalog(
        {p: Product(p, n, 1 + p % 3, 1) for p, n in names.items()},
        {1: "fresh fruits", 2: "milk", 3: "yogurt"},
        {1: "dairy eggs"},
    )
    orders, oid = [], 1
    for user in range(1, 6):
        for n in range(1, 6):
            orders.append(Order(oid, user, n, 1, 10, None if n == 1 else 7, (1, 2, 3 + user % 3)))
            oid += 1
        # the test order: starts with the never-seen product, then a habitual one
        orders.append(Order(oid, user, 6, 1, 10, 7, (NEW, 1)))
        oid += 1
    return catalog, orders


def test_test_order_item_never_influences_its_own_prediction():
    catalog, orders = _world()
    result = evaluate(orders, catalog, model=MODEL, k=3)
    for name, m in result["methods"].items():
        # NEW is 1 of the 2 test adds of every user; nothing from the training period points to
        # it, so no method can rank it: HR is at most the share of the other adds
        assert m["by_repeat"]["new"] == 0.0, name
    assert result["n_train_orders"] == 25 and result["n_test_orders"] == 5

    # The same run with artifacts that (wrongly) saw the test orders does rank it: the test
    # above would catch a leak.
    leaky = build_artifacts(orders, catalog, MODEL)
    leaked = evaluate(orders, catalog, model=MODEL, k=3, artifacts=leaky)
    assert leaked["methods"]["popularity"]["hr"] > result["methods"]["popularity"]["hr"]


def test_artifacts_used_for_scoring_come_from_training_orders_only():
    catalog, orders = _world()
    train, _ = split_test_orders(orders, 1)
    art = build_artifacts(train, catalog, MODEL)
    assert NEW not in art.popular.tolist()
    assert all(art.seed_state(u).history.row(NEW) is None for u in art.known_users())
    assert art.meta["n_orders"] == len(train)


def test_each_add_is_scored_before_it_is_applied():
    catalog, orders = _world()
    result = evaluate(orders, catalog, model=MODEL, k=3)
    # product 1 is in every training order and is the 2nd add of every test order: if the add
    # were applied before scoring it would sit in the basket and could never be a hit
    assert result["methods"]["personal_top"]["by_position"]["1-2"] == 1.0
    assert result["methods"]["streaming"]["by_position"]["1-2"] == 1.0


KEYS = {
    "hr",
    "mrr",
    "ndcg",
    "hr_ci",
    "hr20",
    "by_position",
    "by_history",
    "by_repeat",
    "window_hr",
    "next_basket_recall",
}


@pytest.mark.parametrize("search_rate", ["0", "0.3"])
def test_eval_command_on_fixture_writes_issue_shape(tmp_path, capsys, search_rate, fixture_dir):
    out = tmp_path / "r.json"
    code = main(
        [
            "eval",
            "--orders",
            str(fixture_dir / "orders.csv"),
            "--catalog",
            str(fixture_dir),
            "--model",
            "default",
            "--search-rate",
            search_rate,
            "--json",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "streaming" in printed and "rescore" in printed
    r = orjson.loads(out.read_bytes())
    assert r["k"] == 10 and r["n_users"] == 25 and r["n_events"] > 0
    assert set(r["methods"]) == {"popularity", "personal_top", "cached", "streaming"}
    for m in r["methods"].values():
        assert set(m) >= KEYS
        assert set(m["by_position"]) == {"0", "1-2", "3+"}
        assert set(m["by_history"]) == {"<10", "10-29", "30+"}
        assert set(m["by_repeat"]) == {"repeat", "new"}
        lo, hi = m["hr_ci"]
        assert 0.0 <= lo <= m["hr"] <= hi <= 1.0
    streaming = r["methods"]["streaming"]
    assert streaming["rescore_ms_p50"] > 0 and streaming["rescore_cpu_ms_p50"] > 0
    base = r["methods"]["personal_top"]
    assert base["lift"] == 1.0 and base["lift_ci"] == [1.0, 1.0]
    lo, hi = streaming["lift_ci"]
    assert streaming["lift"] == pytest.approx(streaming["hr"] / base["hr"], abs=1e-3)
    assert lo <= streaming["lift"] <= hi
    assert "over personal_top's (paired user-bootstrap 95% CI): " in printed


@pytest.mark.parametrize(("test_orders", "warned"), [("1", False), ("2", True)])
def test_eval_warns_when_the_model_may_have_trained_on_its_test_orders(
    tmp_path, capsys, fixture_dir, test_orders: str, warned: bool
) -> None:
    # a model file as `stream-app train --test-orders 1` writes it for this very file
    model = default_model()
    meta = {**model.meta, "source": "orders.csv", "test_orders_left_out": 1}
    path = tmp_path / "m.json"
    replace(model, meta=meta).save(path)
    out = tmp_path / "r.json"
    argv = ["eval", "--orders", str(fixture_dir / "orders.csv"), "--catalog", str(fixture_dir)]
    code = main([*argv, "--model", str(path), "--test-orders", test_orders, "--json", str(out)])
    assert code == 0
    captured = capsys.readouterr()
    assert ("WARNING: the model was trained on orders.csv" in captured.err) is warned
    assert ("model_warning" in orjson.loads(out.read_bytes())) is warned
    assert "last 1 order(s) per user left out" in captured.out
