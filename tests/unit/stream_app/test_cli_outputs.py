"""Bad output paths are a one-line error naming the path, before any input is read."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream_app.cli import main


@pytest.fixture
def afile(tmp_path: Path) -> Path:
    """An existing regular file: nothing can be created under it."""
    f = tmp_path / "afile"
    f.write_text("not a folder\n")
    return f


def _inputs(tmp_path: Path) -> list[str]:
    # inputs that do not exist: if the command read them first, the error would name them
    return ["--orders", str(tmp_path / "missing.csv"), "--catalog", str(tmp_path / "nocat")]


def _one_line_error(capsys: pytest.CaptureFixture[str], command: str, path: Path) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"stream-app {command}: error: ")
    assert str(path) in lines[0]
    assert "missing.csv" not in lines[0] and "nocat" not in lines[0]
    assert captured.out == ""  # nothing was read or done
    return lines[0]


@pytest.mark.parametrize(
    ("command", "option", "under"),
    [
        ("build", "--out", True),
        ("build", "--out", False),  # the existing file itself as the artifacts folder
        ("import-instacart", "--out", True),
        ("train", "--out", True),
        ("eval", "--json", True),
        ("eval", "--report", True),
        ("eval", "--report", False),
    ],
)
def test_bad_output_path_fails_first_with_one_line(
    tmp_path: Path,
    afile: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
    option: str,
    under: bool,
) -> None:
    bad = afile / "sub" / "x.json" if under else afile
    extra = ["--model", "default"] if command == "eval" else []
    code = main([command, *_inputs(tmp_path), option, str(bad), *extra])
    assert code == 2
    line = _one_line_error(capsys, command, bad)
    assert (str(afile) + " is not a folder") in line or "exists and is not a folder" in line


@pytest.mark.parametrize(
    ("command", "option"),
    [("import-instacart", "--out"), ("train", "--out"), ("eval", "--json")],
)
def test_file_option_naming_a_folder_fails_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, option: str
) -> None:
    folder = tmp_path / "adir"
    folder.mkdir()
    assert main([command, *_inputs(tmp_path), option, str(folder)]) == 2
    assert "is a folder, expected a file" in _one_line_error(capsys, command, folder)


def test_unwritable_parent_fails_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = Path("/proc/stream-app-test/m.json")  # /proc takes no new files, even for root
    assert main(["train", *_inputs(tmp_path), "--out", str(bad)]) == 2
    assert "cannot write in /proc" in _one_line_error(capsys, "train", bad)


def test_schemas_export_under_a_file_is_one_line(
    afile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = afile / "sub"
    assert main(["schemas", "export", "--out", str(bad)]) == 2
    _one_line_error(capsys, "schemas", bad)
    assert afile.read_text() == "not a folder\n"


@pytest.mark.parametrize(("command", "option"), [("schemas", "--out"), ("eval", "--json")])
def test_a_path_through_a_broken_symlink_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, option: str
) -> None:
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    bad = dangling / "x" / "r.json"
    args = (
        ["schemas", "export", "--out", str(bad)]
        if command == "schemas"
        else ["eval", *_inputs(tmp_path), "--json", str(bad), "--model", "default"]
    )
    assert main(args) == 2
    assert f"{dangling} is a broken symlink" in _one_line_error(capsys, command, bad)


def test_record_checks_out_before_contacting_kafka(
    afile: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import stream_app.tools.replay

    def no_kafka(*_a: object, **_k: object) -> None:
        raise AssertionError("record() must not run with a bad --out")

    monkeypatch.setattr(stream_app.tools.replay, "record", no_kafka)
    bad = afile / "log.jsonl"
    assert main(["record", "--out", str(bad)]) == 2
    _one_line_error(capsys, "record", bad)


def test_good_output_paths_pass_and_missing_parents_are_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "new" / "deeper"
    assert main(["schemas", "export", "--out", str(out)]) == 0
    assert sorted(p.suffix for p in out.iterdir()) and all(
        p.name.endswith(".schema.json") for p in out.iterdir()
    )
    assert not list(tmp_path.rglob(".stream-app-probe-*"))  # the write probe cleans up
