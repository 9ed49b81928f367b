"""The surfaces declaration (scorers/surfaces.toml): the shipped file, overrides, bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.errors import ConfigError
from scorers.surface_models import MODELS
from scorers.surfaces import MAX_K, dump_surfaces, load_surfaces, parse_surfaces

GOOD = """
[[surface]]
name = "deals"
context = ["history", "time"]
model = "buy_again"
k = 5
refresh = "batch"
rescore_on = ["build", "checkout"]

[[surface]]
name = "default"
context = ["history", "basket", "searches", "time"]
sources = ["history", "popular"]
model = "blended"
refresh = "events"
rescore_on = ["cart_add", "search", "checkout", "fade"]
"""


def _with(field: str, value: str) -> str:
    """GOOD with ``field`` of its first surface (deals) set to ``value`` (TOML)."""
    lines = GOOD.strip().splitlines()
    first_end = lines.index("", 1)
    head = [ln for ln in lines[:first_end] if not ln.startswith(f"{field} =")]
    return "\n".join([*head, f"{field} = {value}", "", *lines[first_end + 1 :]])


def test_the_shipped_declaration_has_the_four_surfaces_with_their_triggers() -> None:
    surfaces = {s.name: s for s in load_surfaces()}
    assert list(surfaces) == ["default", "buy_again", "basket", "search"]
    assert surfaces["default"].model == "blended" and surfaces["default"].k is None
    assert surfaces["buy_again"].refresh == "batch"
    assert surfaces["buy_again"].rescore_on == {"build", "checkout"}
    assert surfaces["basket"].rescore_on == {"cart_add", "checkout", "session"}
    assert surfaces["search"].rescore_on == {"search", "checkout", "fade"}
    assert all(s.model in MODELS for s in surfaces.values())


def test_a_file_of_its_own_overrides_the_shipped_one_and_default_comes_first(
    tmp_path: Path,
) -> None:
    path = tmp_path / "surfaces.toml"
    path.write_text(GOOD, encoding="utf-8")
    deals_last = load_surfaces(path)
    assert [s.name for s in deals_last] == ["default", "deals"]
    assert deals_last[1].k == 5 and deals_last[1].batch
    assert parse_surfaces(dump_surfaces(deals_last), "again", MODELS) == deals_last


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_with("model", '"magic"'), "surface 'deals': unknown model 'magic' (known: ['basket',"),
        (_with("context", '["history", "mood"]'), "surface 'deals': unknown context ['mood']"),
        (
            _with("rescore_on", '["build", "login"]'),
            "surface 'deals': unknown rescore_on ['login']",
        ),
        (_with("name", '"default"'), "duplicate surface name 'default'"),
        (_with("k", "0"), f"surface 'deals': k must be an integer from 1 to {MAX_K}, got 0"),
        (_with("k", str(MAX_K + 1)), "k must be an integer from 1"),
        (_with("k", "2.5"), "k must be an integer from 1"),
        (_with("k", "true"), "k must be an integer from 1"),
        (_with("k", '"10"'), "k must be an integer from 1"),
        (_with("rescore_on", '["build", "cart_add"]'), "a batch surface is rescored only on"),
        (_with("refresh", '"hourly"'), "refresh must be one of ['batch', 'events']"),
        (_with("rescore_on", "[]"), "rescore_on is empty"),
        (
            _with("rescore_on", '["build"]'),
            "surface 'deals': its context ['history', 'time'] is changed by ['checkout'] too",
        ),
        (_with("name", '"Buy Again"'), "name must be lower-case letters"),
        (_with("colour", '"red"'), "unknown fields ['colour']"),
        (GOOD.replace('model = "buy_again"\n', ""), "surface 'deals': missing model"),
        (GOOD.replace('name = "default"', 'name = "main"'), "no surface named 'default'"),
        ("surface = 3", "no [[surface]] tables"),
        ("[[surface]\n", "not valid TOML"),
        ("", "no [[surface]] tables"),
    ],
)
def test_a_bad_declaration_is_a_config_error_naming_the_file_and_the_surface(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_surfaces(path)
    assert str(err.value).startswith(f"surfaces file {path}: ")
    assert message in str(err.value)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_surfaces(tmp_path / "nowhere.toml")


def test_the_documented_alternative_declaration_loads() -> None:
    from pathlib import Path

    from scorers.surfaces import by_name, load_surfaces

    path = Path(__file__).resolve().parents[3] / "docs" / "surfaces-context-rich.toml"
    surfaces = by_name(load_surfaces(path))
    assert "cart_add" in surfaces["search"].rescore_on
    assert "search" in surfaces["basket"].rescore_on
