"""`stream-app demo`: its own namespace, its options and its curated output (no services)."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.errors import ConfigError
from stream_app.cli import build_parser
from stream_app.cli.demo import demo_settings, get_command, show_lines, worker_summary
from stream_app.settings import Settings


@pytest.mark.parametrize("bad", ["0", "-1", "two"])
def test_users_below_one_or_not_a_number_is_an_argparse_error(bad, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["demo", "--users", bad])
    assert exc.value.code == 2
    assert "--users" in capsys.readouterr().err


def test_users_and_prefix_are_parsed() -> None:
    args = build_parser().parse_args(["demo", "--users", "1"])
    assert args.users == 1
    assert args.prefix == "demo"


def test_every_demo_option_has_help(capsys) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--help"])
    out = capsys.readouterr().out
    for text in ("Instacart format", "products.csv", "random seed", "Redis key prefix"):
        assert text in out


def test_the_demo_writes_to_its_own_artifacts_and_prefix_not_the_users_build() -> None:
    mine = Settings(state_dir=Path("/s"), artifacts_dir=Path("/s/artifacts"), reco_prefix="reco")
    demo = demo_settings(mine, "demo-123", "demo")
    assert demo.artifacts_dir == Path("/s/demo/artifacts")
    assert demo.artifacts_dir != mine.artifacts_dir
    assert demo.reco_prefix == "demo"
    assert demo.app_id == "demo-123"
    assert demo.topic_cart_adds == "demo-123-cart-adds"
    assert demo.topic_dead_letters == "demo-123-dead-letters"
    # what it leaves alone
    assert (demo.kafka_bootstrap, demo.redis_url) == (mine.kafka_bootstrap, mine.redis_url)


def test_a_demo_prefix_equal_to_the_users_prefix_is_refused() -> None:
    with pytest.raises(ConfigError, match="STREAM_APP_RECO_PREFIX"):
        demo_settings(Settings(reco_prefix="demo"), "demo-1", "demo")


def test_the_printed_get_command_reads_the_demo_answers_with_the_venv_binary() -> None:
    demo = demo_settings(Settings(state_dir=Path(".state")), "demo-1", "demo")
    assert get_command(demo, 154) == (
        "STREAM_APP_RECO_PREFIX=demo STREAM_APP_ARTIFACTS_DIR=.state/demo/artifacts "
        ".venv/bin/stream-app get 154"
    )
    spaced = demo_settings(Settings(state_dir=Path("/my state")), "demo-1", "x y")
    assert "STREAM_APP_RECO_PREFIX='x y' STREAM_APP_ARTIFACTS_DIR='/my state/demo/artifacts'" in (
        get_command(spaced, 1)
    )


def _body(event_ts: int, fallback: bool = False) -> dict:
    return {
        "user_id": 7,
        "fallback": fallback,
        "source": "fallback" if fallback else "stream",
        "model": "m",
        "age_ms": 1500,
        "event_ts": event_ts,
        "items": [{"product_id": 196, "score": 1.0, "reason": "r", "name": "Soda"}],
    }


def test_answers_show_event_time_as_utc_and_no_events_for_zero() -> None:
    first = show_lines(_body(1510657740000))[0]
    assert first.endswith("reflects events up to 2017-11-14 11:09:00 UTC")
    assert "ts=" not in first
    lines = show_lines(_body(0, fallback=True))
    assert lines[0].endswith("reflects no events yet")
    assert "Soda" in lines[1]


def test_worker_summary_counts_only_this_replay_in_words() -> None:
    baseline = {"events": 1, "dead_letters": 0, "answers": 1, "batches": 1, "late_events": 0}
    final = {
        "events": 389,
        "dead_letters": 2,
        "answers": 120,
        "batches": 9,
        "late_events": 3,
        "max_late_ms": 41,
        "decay_notes": 23,
        "generation": 1,
        "partitions": 33,
    }
    text = worker_summary(baseline, final)
    assert text.startswith("worker: 388 events applied in 8 batches, 119 answers written")
    assert "2 dead letters" in text
    assert "3 events arrived out of event-time order" in text and "41 ms" in text
    assert "partitions" not in text and "{" not in text
    in_order = worker_summary(baseline, {**final, "late_events": 0})
    assert in_order.endswith("every event arrived in event-time order")
