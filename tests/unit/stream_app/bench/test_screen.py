"""The bench's one screen shows every phase, the ratios to the floors and what went wrong."""

from __future__ import annotations

from typing import Any

from stream_app.tools.bench.screen import render


def _results(**changes: Any) -> dict[str, Any]:
    drain = {
        "events": 55_000,
        "shoppers": 382,
        "answered": 382,
        "applied": 55_000,
        "seconds": 61.3,
        "events_per_s": 897.2,
        "cpu_s_per_1k_events": 0.83,
        "events_per_rescore": 2.11,
        "batches": 124,
        "mean_batch": 444.3,
        "generation": 1,
    }
    floor = {**drain, "events_per_s": 29_540.5, "seconds": 1.86, "pipeline_ratio": 0.03}
    results = {
        "run": "bench-x",
        "when_utc": "2026-12-03 22:11 UTC",
        "conditions": {
            "cpus": 2,
            "load_1m": 3.24,
            "kafka": "localhost:9092",
            "redis_version": "7.0.15",
            "workers": 1,
            "partitions": 8,
            "batch_max": 500,
            "batch_within_s": 0.05,
            "fetch_max_wait_ms": 100,
        },
        "backlog": {
            "source": "orders_dev.csv, each shopper's last 10 orders + searches at 0.3",
            "events": 55_000,
            "shoppers": 382,
            "order": "shoppers interleaved",
            "publish_s": 5.2,
            "publish_per_s": 10_559,
        },
        "floors": {
            "bare": {**floor, "events_per_s": 128_722.0, "pipeline_ratio": 0.007},
            "faust": floor,
        },
        "drain": drain,
        "freshness": {
            "events": 40_000,
            "rate": 2000.0,
            "sent_per_s": 1999.0,
            "answered": 40_000,
            "answered_per_s": 1_100.0,
            "last_send_to_last_answer_s": 16.4,
            "unanswered": 0,
            "delay_ms": {"n": 40_000, "p50": 45.2, "p90": 70.0, "p99": 110.0, "max": 300.0},
            "events_per_rescore": 1.4,
        },
        "reads": {
            "readers": 4,
            "target_per_s": 200.0,
            "library": {
                "reads": 2000,
                "per_s": 100.0,
                "ms": {"n": 2000, "p50": 0.6, "p99": 14.9},
                "errors": 0,
            },
            "http": {
                "reads": 1990,
                "per_s": 99.5,
                "ms": {"n": 1990, "p50": 5.2, "p99": 341.0},
                "errors": 10,
                "first_error": "HTTP 503",
            },
        },
        "cost": {
            "cpu_s_per_1k_events": 0.83,
            "peak_rss_bytes": [468_713_472],
            "table_state_bytes": {"n": 382, "median": 16_896, "p90": 27_136, "max": 51_610},
            "redis_bytes": {"n": 200, "median": 856, "p90": 856, "max": 856},
        },
        "incomplete": [],
    }
    results.update(changes)
    return results


def test_the_screen_has_every_phase_on_one_screen() -> None:
    text = render(_results())
    assert len(text.splitlines()) <= 30
    assert max(len(line) for line in text.splitlines()) <= 100
    flat = " ".join(text.split())  # columns are padded: compare words
    for needle in (
        "2 CPUs, load 3.24",
        "55,000 events of 382 shoppers, shoppers interleaved, published at 10,559/s",
        "pipeline 897 events/s 61.3 s 0.83 CPU s/1k ev",
        "floor: bare 128,722 events/s",
        "pipeline = 0.03x of it",
        "2.1 events per rescore, 124 batches (mean 444 events), 0 rebalances",
        "40,000 events paced at 2,000/s (sent at 1,999/s, answered at 1,100/s)",
        "send -> answer in Redis: p50 45.2 ms, p90 70.0 ms, p99 110 ms, max 300 ms",
        "1.4 events per rescore; last answer 16.4 s after the last send",
        "reads meanwhile: 4 readers, 200 reads/s asked, 200/s done",
        "serving.Reader p50 0.6 ms, p99 14.9 ms",
        "10 errors (HTTP 503)",
        "0.83 worker CPU s per 1,000 events",
        "peak RSS 447 MB",
        "table state per shopper: median 16.5 KB, p90 26.5 KB, max 50.4 KB",
        "Redis per shopper: median 856 B",
    ):
        assert needle in flat, needle
    assert "INCOMPLETE" not in text


def test_answers_falling_behind_the_pace_are_called_queueing() -> None:
    assert "these delays are mostly the queue growing" in render(_results())
    kept_up = _results()
    kept_up["freshness"] = {**kept_up["freshness"], "answered_per_s": 1_990.0}
    assert "queue growing" not in render(kept_up)


def test_what_never_got_an_answer_is_said_last() -> None:
    text = render(_results(incomplete=["3 of 40000 paced events never answered"]))
    assert text.splitlines()[-1] == "INCOMPLETE: 3 of 40000 paced events never answered"


def test_a_run_that_stopped_after_the_drain_still_renders() -> None:
    partial = _results(incomplete=["no paced phase"])
    for key in ("freshness", "reads"):
        del partial[key]
    partial["cost"] = {"cpu_s_per_1k_events": None}
    assert "INCOMPLETE: no paced phase" in render(partial)
