"""Claims about the per-surface evaluation: it scores the very MODELS functions the worker
calls, and its JSON has the shapes of issue 16 (beside today's ``methods``)."""

from __future__ import annotations

import pytest

import scorers.surface_models as surface_models
from loaders.instacart import split_test_orders
from scorers import build_artifacts
from scorers.evaluation.run import evaluate
from scorers.model import default_model
from stream_app.cli.eval import format_surfaces, surface_costs


@pytest.fixture(scope="module")
def result(orders, catalog):
    train, _ = split_test_orders(orders, 1)
    art = build_artifacts(train, catalog, default_model())
    return evaluate(orders, catalog, model=default_model(), search_rate=0.3, artifacts=art)


def test_surfaces_sit_beside_methods_with_the_issue_shapes(result):
    surfaces = result["surfaces"]
    assert set(result["methods"]) >= {"popularity", "personal_top", "cached", "streaming"}
    assert list(surfaces) == ["blended", "basket", "search", "buy_again"]
    for name in ("blended", "basket", "search"):
        s = surfaces[name]
        assert 0.0 <= s["hr"] <= 1.0 and set(s["by_repeat"]) == {"repeat", "new"}
        assert s["rescore_ms_p50"] > 0
        for base in s["baselines"].values():
            assert set(base) >= {"hr", "hr_ci", "by_repeat"}
    assert set(surfaces["basket"]["baselines"]) == {
        "popularity",
        "personal_top",
        "cooc_raw",
        "blended",
    }
    assert surfaces["search"]["search_rate"] == 0.3
    ba = surfaces["buy_again"]
    assert 0.0 <= ba["next_basket_recall"] <= 1.0 and ba["n_orders"] > 0
    assert set(ba["baselines"]) >= {"personal_top", "popularity", "cached"}
    assert all("next_basket_recall" in b for b in ba["baselines"].values())
    # the blended surface is today's streaming figures, under the surface's names
    assert surfaces["blended"]["hr"] == result["methods"]["streaming"]["hr"]
    assert surfaces["blended"]["by_repeat"] == result["methods"]["streaming"]["by_repeat"]


def test_surface_table_and_cost_line_name_every_surface(result):
    table = format_surfaces(result)
    for name in ("blended", "basket", "search", "buy_again", "cooc_raw", "personal_top"):
        assert name in table
    line = surface_costs(result)
    assert all(f"{name} " in line for name in ("blended", "basket", "search", "buy_again"))
    assert "all surfaces" in line


def test_eval_calls_the_models_the_worker_calls(orders, catalog, monkeypatch):
    calls: dict[str, int] = {}

    def counting(name):
        real = surface_models.MODELS[name]

        def model(states, art, k=10, now_ms=None):
            calls[name] = calls.get(name, 0) + len(states)
            return real(states, art, k, now_ms)

        return model

    for name in list(surface_models.MODELS):
        monkeypatch.setitem(surface_models.MODELS, name, counting(name))
    train, test = split_test_orders(orders, 1)
    art = build_artifacts(train, catalog, default_model())
    result = evaluate(orders, catalog, model=default_model(), artifacts=art)
    n_adds = result["n_events"]
    assert calls["basket"] == calls["search"] == n_adds
    assert calls["blended"] >= n_adds
    assert calls["buy_again"] == result["surfaces"]["buy_again"]["n_orders"] == len(test)
