"""`stream-app bench` options and errors: one line, exit code 2, before any work."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream_app.cli import main
from stream_app.stack.procs import free_port

FIXTURE = Path(__file__).resolve().parents[3] / "fixtures" / "instacart"


def test_help_explains_every_phase(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for phase in ("backlog", "floors", "drain", "freshness", "reads", "cost"):
        assert f"\n  {phase} " in out, phase
    for option in ("--workers", "--rate", "--seconds", "--readers", "--grouped", "--json"):
        assert option in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "give the backlog: --orders PATH [--catalog DIR], or --log LOG.jsonl"),
        (["--orders", "o.csv"], "--orders needs --catalog"),
        (["--catalog", "d"], "--catalog goes with --orders"),
        (["--orders", "/nonexistent/o.csv", "--catalog", "d"], "no such file or folder"),
        (["--orders", str(FIXTURE)], "release folder: missing order_products__prior.csv, order_"),
        (["--log", "l.jsonl", "--orders", "o.csv"], "give either --log or --orders"),
        (["--orders", "o.csv", "--catalog", "d", "--artifacts", "a"], "--artifacts goes with"),
        (["--log", "/nonexistent/l.jsonl"], "--log /nonexistent/l.jsonl: no such file"),
        (["--orders", str(FIXTURE / "orders.csv"), "--catalog", "/nonexistent"], "no such folder"),
    ],
)
def test_backlog_options_that_do_not_fit_are_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("stream-app bench: error: ")
    assert message in err[0]


def test_json_into_a_folder_fails_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["bench", "--orders", str(FIXTURE / "orders.csv"), "--catalog", str(FIXTURE)]
    assert main([*argv, "--json", str(tmp_path)]) == 2
    assert "is a folder, expected a file" in capsys.readouterr().err


def test_redis_down_is_one_line_naming_the_url_and_services_up(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    monkeypatch.setenv("STREAM_APP_REDIS_URL", url)
    argv = ["bench", "--orders", str(FIXTURE / "orders.csv"), "--catalog", str(FIXTURE)]

    assert main(argv) == 2

    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"stream-app bench: error: Redis does not answer at {url} (")
    assert "`.venv/bin/stream-app services up`" in err[0]
