"""argparse ``type=`` functions for the commands' numeric options: one style of error.

A bad value fails while parsing, before any work: argparse prints the usage line and
``stream-app COMMAND: error: argument --OPTION: MESSAGE`` and exits with code 2 (the same
code as a project error raised later in ``run()``). Each function returns the parsed value
or raises :class:`argparse.ArgumentTypeError` with the MESSAGE.

>>> positive_int("3")
3
>>> positive_int("0")
Traceback (most recent call last):
    ...
argparse.ArgumentTypeError: must be at least 1, got 0
>>> positive_int("x")
Traceback (most recent call last):
    ...
argparse.ArgumentTypeError: 'x' is not an integer
>>> non_negative_int("0")
0
>>> non_negative_int("-1")
Traceback (most recent call last):
    ...
argparse.ArgumentTypeError: must be 0 or more, got -1
>>> port("8080")
8080
>>> port("70000")
Traceback (most recent call last):
    ...
argparse.ArgumentTypeError: must be a port number from 1 to 65535, got 70000
>>> positive_float("1.5")
1.5
>>> positive_float("0")
Traceback (most recent call last):
    ...
argparse.ArgumentTypeError: must be positive, got 0.0
>>> positive_float("nan")
Traceback (most recent call last):
    ...
argparse.ArgumentTypeError: must be a finite number, got nan
>>> positive_float("fast")
Traceback (most recent call last):
    ...
argparse.ArgumentTypeError: 'fast' is not a number
>>> fraction("0"), fraction("0.3"), fraction("1")
(0.0, 0.3, 1.0)
>>> fraction("1.5")
Traceback (most recent call last):
    ...
argparse.ArgumentTypeError: must be between 0 and 1, got 1.5
"""

from __future__ import annotations

import argparse
import math

__all__ = ["fraction", "non_negative_int", "port", "positive_float", "positive_int"]


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {value}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (a count, K, a number of orders or passes)."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0 (0 usually means "none": e.g. no orders left out)."""
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def port(text: str) -> int:
    """A TCP port number, 1..65535."""
    value = _int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 1 to 65535, got {value}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (a speed, a rate, a timeout in seconds)."""
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def fraction(text: str) -> float:
    """A number from 0 to 1, both included (a probability or a rate per event)."""
    value = _float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value
