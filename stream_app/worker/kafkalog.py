"""Kafka client log lines that mean lost records, made visible at the worker's log level.

When a consumer's fetch position falls below the log start of a partition (the broker deleted
those records, e.g. by time retention), aiokafka resets the position to the log start and says
so at INFO only: a worker running at WARNING would skip the deleted records without a trace.
:func:`install_offset_reset_alarm` promotes that line to WARNING and keeps the rest of the
fetcher's log at the worker's level.
"""

from __future__ import annotations

import logging

__all__ = ["FETCHER_LOGGER", "OffsetResetAlarm", "install_offset_reset_alarm"]

FETCHER_LOGGER = "aiokafka.consumer.fetcher"
SKIPPED = (
    " -- records below the new position were deleted on the broker and are SKIPPED"
    " (check the topic's retention.ms / retention.bytes)"
)


class OffsetResetAlarm(logging.Filter):
    """Promote "fetch offset ... is out of range" to WARNING; drop other records below ``level``.

    >>> alarm = OffsetResetAlarm(logging.WARNING)
    >>> msg = "Fetch offset %s is out of range"
    >>> r = logging.LogRecord("f", logging.INFO, "", 0, msg, (8,), None)
    >>> alarm.filter(r), r.levelname
    (True, 'WARNING')
    >>> alarm.filter(logging.LogRecord("f", logging.INFO, "", 0, "other", (), None))
    False
    """

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether to emit ``record`` (changing its level when it reports a reset)."""
        if record.levelno < logging.WARNING and "out of range" in str(record.msg):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg = f"{record.msg}{SKIPPED}"
            return True
        return record.levelno >= self.level


def install_offset_reset_alarm(level: int | str) -> None:
    """Make offset resets visible on a worker logging at ``level`` (idempotent)."""
    numeric = level if isinstance(level, int) else logging.getLevelName(str(level).upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    logger = logging.getLogger(FETCHER_LOGGER)
    for f in list(logger.filters):
        if isinstance(f, OffsetResetAlarm):
            logger.removeFilter(f)
    logger.addFilter(OffsetResetAlarm(numeric))
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)  # the reset line is INFO: it must be created to be seen
