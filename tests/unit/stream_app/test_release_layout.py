"""The commands take the public release's folder as --orders (catalog defaulting to it) and give
the same results as the merged orders file of the same orders: `build` writes the same
artifacts, `eval` the same figures, `import-instacart` the same log."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import orjson
import pytest

import stream_app.batch as batch_job
from stream_app.cli import main

FIXTURE = Path(__file__).parents[2] / "fixtures" / "instacart"
MERGED = ["--orders", str(FIXTURE / "orders.csv"), "--catalog", str(FIXTURE)]
TIMING = ("rescore_ms_p50", "rescore_ms_p90", "rescore_ms_p50_best_of_3", "rescore_cpu_ms_p50")


def _members(npz: Path) -> dict[str, bytes]:
    """The arrays of an ``.npz`` as the bytes of their ``.npy`` members (the zip's own
    headers carry the write time)."""
    with zipfile.ZipFile(npz) as z:
        return {name: z.read(name) for name in sorted(z.namelist())}


def test_build_writes_identical_artifacts_from_both_forms(
    tmp_path: Path, release_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch_job, "seed_answers", lambda *a, **k: 0)  # no Redis in unit tests
    merged, release = tmp_path / "merged", tmp_path / "release"
    common = ["--test-orders", "1", "--no-progress"]
    assert main(["build", *MERGED, "--out", str(merged), *common]) == 0
    assert main(["build", "--orders", str(release_dir), "--out", str(release), *common]) == 0
    files = sorted(p.name for p in merged.iterdir())
    assert files == ["arrays.npz", "meta.json", "names.json", "states.bin", "states_index.npz"]
    assert sorted(p.name for p in release.iterdir()) == files
    for name in ("meta.json", "names.json", "states.bin"):
        assert (release / name).read_bytes() == (merged / name).read_bytes(), name
    for name in ("arrays.npz", "states_index.npz"):
        arrays = _members(merged / name)
        assert len(arrays) >= 2
        assert _members(release / name) == arrays, name


def _figures(result: dict[str, Any]) -> dict[str, Any]:
    """An eval result without its timings (wall time, rescore latencies, training time)."""
    out = {k: v for k, v in result.items() if k not in ("wall_s", "model_source")}
    out["methods"] = {
        name: {k: v for k, v in m.items() if k not in TIMING}
        for name, m in result["methods"].items()
    }
    out["surfaces"] = {
        name: {k: v for k, v in m.items() if not k.startswith("rescore_ms")}
        for name, m in result["surfaces"].items()
    }
    return out


def test_eval_gives_identical_figures_from_both_forms(tmp_path: Path, release_dir: Path) -> None:
    # no --model: the re-ranker is trained first, on each form's own training orders
    common = ["--search-rate", "0.3", "--seed", "3"]
    assert main(["eval", *MERGED, *common, "--json", str(tmp_path / "m.json")]) == 0
    argv = ["eval", "--orders", str(release_dir), *common, "--json", str(tmp_path / "r.json")]
    assert main(argv) == 0
    merged = orjson.loads((tmp_path / "m.json").read_bytes())
    release = orjson.loads((tmp_path / "r.json").read_bytes())
    assert merged["n_users"] == 25 and merged["n_events"] > 200
    assert merged["methods"]["streaming"]["hr"] > 0
    assert _figures(release) == _figures(merged)


def test_import_instacart_writes_the_same_log_from_both_forms(
    tmp_path: Path, release_dir: Path
) -> None:
    common = ["--search-rate", "0.3", "--test-orders", "2"]
    assert main(["import-instacart", *MERGED, *common, "--out", str(tmp_path / "m.jsonl")]) == 0
    argv = ["import-instacart", "--orders", str(release_dir), *common]
    assert main([*argv, "--out", str(tmp_path / "r.jsonl")]) == 0
    log = (tmp_path / "m.jsonl").read_bytes()
    assert log.count(b"\n") > 500
    assert (tmp_path / "r.jsonl").read_bytes() == log


def test_an_explicit_catalog_is_used_and_the_folder_then_needs_no_catalog_files(
    tmp_path: Path, release_dir: Path
) -> None:
    orders_only = tmp_path / "orders-only"
    orders_only.mkdir()
    for name in ("orders.csv", "order_products__prior.csv", "order_products__train.csv"):
        (orders_only / name).write_bytes((release_dir / name).read_bytes())
    argv = ["import-instacart", "--orders", str(orders_only), "--catalog", str(FIXTURE)]
    assert main([*argv, "--out", str(tmp_path / "a.jsonl")]) == 0


@pytest.mark.parametrize("command", ["build", "eval", "train", "import-instacart", "chaos"])
def test_input_mistakes_are_one_line_before_any_work(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    outs = {"train": ["--out", str(tmp_path / "m.json")],
            "import-instacart": ["--out", str(tmp_path / "l.jsonl")],
            "build": ["--out", str(tmp_path / "art")]}  # fmt: skip
    extra = outs.get(command, [])
    assert main([command, "--orders", str(FIXTURE / "orders.csv"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"stream-app {command}: error: --catalog DIR is required when --orders is a file "
        f"({FIXTURE / 'orders.csv'})"
    )
    incomplete = tmp_path / "incomplete"
    incomplete.mkdir()
    (incomplete / "orders.csv").write_text("")
    assert main([command, "--orders", str(incomplete), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"stream-app {command}: error: {incomplete}: not an Instacart ")
    assert "missing order_products__prior.csv, order_products__train.csv, products.csv, " in err[0]
    assert not (tmp_path / "art").exists() and not (tmp_path / "l.jsonl").exists()


def test_help_of_every_orders_command_names_the_release_folder(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for command in ("build", "eval", "train", "import-instacart", "chaos", "demo", "bench"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = " ".join(capsys.readouterr().out.split())
        assert "--orders PATH" in out, command
        assert "order_products__prior.csv" in out, command
        assert "default: --orders when it is a release folder" in out, command
