"""Up-front checks of the commands' output paths, so a bad path fails before the work.

Every output option of the CLI creates missing parent folders; these checks only make sure
that can succeed: a folder option must not name an existing file, a file option must not name
an existing folder, and the nearest existing ancestor must be a folder we can write in
(probed with a temporary file, since permission bits say nothing for root or read-only mounts).
Failures are a one-line :class:`~schemas.errors.ConfigError` naming the option and the path.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from schemas.errors import ConfigError

__all__ = ["CREATES_PARENTS", "add_event_log_out", "check_output_dir", "check_output_file"]

CREATES_PARENTS = "missing parent folders are created"
"""Appended to the help of every output option: the behaviour they all share."""


def add_event_log_out(p: argparse.ArgumentParser) -> None:
    """The required ``--out LOG.jsonl`` of the commands that write an event log."""
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="LOG.jsonl",
        help=f"event log to write (replaced if it exists; {CREATES_PARENTS})",
    )


def check_output_dir(path: Path, option: str) -> None:
    """Fail unless ``path`` is, or can be created as, a folder we can write in.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> check_output_dir(d / "new" / "sub", "--out")
    >>> (d / "f").write_text("x")
    1
    >>> check_output_dir(d / "f", "--out")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    schemas.errors.ConfigError: --out ...f: exists and is not a folder
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{option} {path}: exists and is not a folder")
    _probe(_nearest_existing(path, option), option, path)


def check_output_file(path: Path, option: str) -> None:
    """Fail unless a file can be written at ``path`` (replacing a file, never a folder).

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> check_output_file(d / "new" / "r.json", "--json")
    >>> check_output_file(d, "--json")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    schemas.errors.ConfigError: --json ...: is a folder, expected a file
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{option} {path}: is a folder, expected a file")
    _probe(_nearest_existing(path.parent, option, path), option, path)


def _nearest_existing(path: Path, option: str, named: Path | None = None) -> Path:
    """``path`` or its closest existing ancestor, which must be a folder."""
    named = path if named is None else named
    here = path.absolute()
    while not here.exists() and here != here.parent:
        if here.is_symlink():  # exists() follows links: this one points nowhere
            raise ConfigError(f"{option} {named}: {here} is a broken symlink")
        here = here.parent
    if not here.is_dir():
        raise ConfigError(f"{option} {named}: {here} is not a folder")
    return here


def _probe(folder: Path, option: str, named: Path) -> None:
    """Create and remove a temporary file in ``folder``: the only reliable writability test."""
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".stream-app-probe-")
    except OSError as exc:
        raise ConfigError(
            f"{option} {named}: cannot write in {folder} ({exc.strerror or exc})"
        ) from exc
    os.close(fd)
    os.unlink(name)
