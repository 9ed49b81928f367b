"""Every numeric option is checked by the parser (stream_app.cli._numbers): a bad value is
an argparse error naming the option (exit code 2, before any work); a good one parses as before."""

from __future__ import annotations

import pytest

from stream_app.cli import build_parser, main

INPUTS = ["--orders", "o.csv", "--catalog", "cat"]
BASE = {
    "build": ["build", *INPUTS],
    "demo": ["demo"],
    "eval": ["eval", *INPUTS],
    "import-instacart": ["import-instacart", *INPUTS, "--out", "log.jsonl"],
    "replay": ["replay", "log.jsonl"],
    "record": ["record", "--out", "log.jsonl"],
    "train": ["train", *INPUTS, "--out", "model.json"],
    "worker": ["worker"],
}

AT_LEAST_1 = [("0", "must be at least 1, got 0"), ("-1", "must be at least 1, got -1"),
              ("abc", "'abc' is not an integer"), ("2.5", "'2.5' is not an integer")]  # fmt: skip
ZERO_OR_MORE = [("-1", "must be 0 or more, got -1"), ("abc", "'abc' is not an integer")]
POSITIVE = [("0", "must be positive, got 0.0"), ("-1", "must be positive, got -1.0"),
            ("abc", "'abc' is not a number"), ("nan", "must be a finite number, got nan"),
            ("inf", "must be a finite number, got inf")]  # fmt: skip
FRACTION = [("1.5", "must be between 0 and 1, got 1.5"),
            ("-0.1", "must be between 0 and 1, got -0.1"),
            ("nan", "must be a finite number, got nan"),
            ("abc", "'abc' is not a number")]  # fmt: skip
PORT = [("0", "must be a port number from 1 to 65535, got 0"),
        ("-1", "must be a port number from 1 to 65535, got -1"),
        ("65536", "must be a port number from 1 to 65535, got 65536"),
        ("abc", "'abc' is not an integer")]  # fmt: skip

OPTIONS = {
    ("build", "--test-orders"): ZERO_OR_MORE,
    ("demo", "--users"): AT_LEAST_1,
    ("demo", "--search-rate"): FRACTION,
    ("eval", "--k"): AT_LEAST_1,
    ("eval", "--test-orders"): AT_LEAST_1,
    ("eval", "--search-rate"): FRACTION,
    ("import-instacart", "--users"): AT_LEAST_1,
    ("import-instacart", "--test-orders"): ZERO_OR_MORE,
    ("import-instacart", "--search-rate"): FRACTION,
    ("replay", "--speed"): POSITIVE,
    ("replay", "--rate"): POSITIVE,
    ("replay", "--connect-timeout"): POSITIVE,
    ("record", "--timeout"): POSITIVE,
    ("train", "--test-orders"): ZERO_OR_MORE,
    ("train", "--holdout-orders"): AT_LEAST_1,
    ("train", "--epochs"): AT_LEAST_1,
    ("train", "--search-rate"): FRACTION,
    ("worker", "--web-port"): PORT,
}

BAD = [
    pytest.param(command, option, value, message, id=f"{command} {option} {value}")
    for (command, option), cases in OPTIONS.items()
    for value, message in cases
]


@pytest.mark.parametrize(("command", "option", "value", "message"), BAD)
def test_a_bad_value_is_an_argparse_error_naming_the_option(
    command: str, option: str, value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([*BASE[command], f"{option}={value}"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: stream-app {command} ")
    assert err.strip().splitlines()[-1] == (
        f"stream-app {command}: error: argument {option}: {message}"
    )


@pytest.mark.parametrize("value", ["-1", "0"])
def test_a_bad_value_as_a_separate_word_is_rejected_too(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([*BASE["eval"], "--k", value])
    assert exc.value.code == 2
    assert f"argument --k: must be at least 1, got {value}" in capsys.readouterr().err


def test_main_rejects_a_bad_value_before_reading_any_input(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    # run() would fail on the missing files with a project error (return 2, no SystemExit)
    argv = ["eval", "--orders", str(tmp_path / "missing.csv"), "--catalog", str(tmp_path),
            "--k", "0"]  # fmt: skip
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "argument --k: must be at least 1, got 0" in capsys.readouterr().err


GOOD = [
    (["build", *INPUTS, "--test-orders", "0"], {"test_orders": 0}),
    (["build", *INPUTS, "--test-orders", "2"], {"test_orders": 2}),
    (["demo", "--users", "1", "--search-rate", "0", "--seed", "-3"],
     {"users": 1, "search_rate": 0.0, "seed": -3}),
    (["eval", *INPUTS, "--k", "20", "--test-orders", "1", "--search-rate", "1"],
     {"k": 20, "test_orders": 1, "search_rate": 1.0}),
    (["import-instacart", *INPUTS, "--out", "l", "--users", "3", "--test-orders", "0",
      "--search-rate", "0.3"], {"users": 3, "test_orders": 0, "search_rate": 0.3}),
    (["replay", "l", "--speed", "0.5", "--connect-timeout", "1.5"],
     {"speed": 0.5, "rate": None, "connect_timeout": 1.5}),
    (["replay", "l", "--rate", "1e3"], {"speed": None, "rate": 1000.0}),
    (["train", *INPUTS, "--out", "m", "--test-orders", "1", "--holdout-orders", "1",
      "--epochs", "1", "--search-rate", "0.25"],
     {"test_orders": 1, "holdout_orders": 1, "epochs": 1, "search_rate": 0.25}),
    (["worker", "--web-port", "1"], {"web_port": 1}),
    (["worker", "--web-port", "65535"], {"web_port": 65535}),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "expected"), GOOD, ids=[" ".join(a) for a, _ in GOOD])
def test_good_values_parse_to_the_same_numbers_as_before(argv: list[str], expected: dict) -> None:
    args = build_parser().parse_args(argv)
    for name, value in expected.items():
        got = getattr(args, name)
        assert got == value and type(got) is type(value), name


DEFAULTS = [
    ("build", {"test_orders": 0}),
    ("demo", {"users": 3, "search_rate": 0.3, "seed": 0}),
    ("eval", {"k": 10, "test_orders": 1, "search_rate": 0.0, "seed": 0}),
    ("import-instacart", {"users": None, "test_orders": 0, "search_rate": 0.0, "seed": 0}),
    ("replay", {"speed": None, "rate": None, "connect_timeout": 30.0}),
    ("record", {"timeout": 5.0}),
    ("train", {"test_orders": 0, "holdout_orders": 8, "epochs": 2, "search_rate": 0.3}),
    ("worker", {"web_port": None}),
]


@pytest.mark.parametrize(("command", "expected"), DEFAULTS, ids=[c for c, _ in DEFAULTS])
def test_defaults_are_unchanged(command: str, expected: dict) -> None:
    args = build_parser().parse_args(BASE[command])
    assert {name: getattr(args, name) for name in expected} == expected
