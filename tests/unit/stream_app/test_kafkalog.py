"""A consumer position reset (records deleted under the worker) is logged at WARNING."""

from __future__ import annotations

import logging

import pytest

from stream_app.worker.kafkalog import FETCHER_LOGGER, OffsetResetAlarm, install_offset_reset_alarm


@pytest.fixture
def fetcher():
    logger = logging.getLogger(FETCHER_LOGGER)
    level, filters = logger.level, list(logger.filters)
    yield logger
    logger.setLevel(level)
    logger.filters[:] = filters


def test_reset_is_promoted_and_other_info_lines_stay_quiet(fetcher, caplog):
    logging.getLogger("aiokafka").setLevel(logging.WARNING)  # a worker at --loglevel warning
    try:
        install_offset_reset_alarm("warning")
        with caplog.at_level(logging.DEBUG):
            # aiokafka's own wording (aiokafka/consumer/fetcher.py)
            fetcher.info(
                "Fetch offset %s is out of range for partition %s, resetting offset",
                81,
                "searches-2",
            )
            fetcher.info("Adding fetch request for partition %s", "searches-2")
    finally:
        logging.getLogger("aiokafka").setLevel(logging.NOTSET)
    records = [r for r in caplog.records if r.name == FETCHER_LOGGER]
    assert [r.levelname for r in records] == ["WARNING"]
    assert "Fetch offset 81 is out of range for partition searches-2" in records[0].getMessage()
    assert "SKIPPED" in records[0].getMessage()


def test_installing_twice_keeps_one_alarm(fetcher):
    install_offset_reset_alarm("info")
    install_offset_reset_alarm(logging.WARNING)
    alarms = [f for f in fetcher.filters if isinstance(f, OffsetResetAlarm)]
    assert len(alarms) == 1 and alarms[0].level == logging.WARNING
