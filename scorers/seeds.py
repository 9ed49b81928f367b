"""The seeded user states of the batch artifacts, read from disk one shopper at a time.

Every known shopper has a seed (their state after replaying their order history, ~6 KB
serialised). A store of a million shoppers has gigabytes of them, so a worker must not hold
them in memory: :class:`SeedFile` keeps only the sorted user ids and offsets (16 bytes a
shopper) and reads a seed with one ``pread`` when the shopper's first event arrives. The
operating system's page cache keeps the hot ones without counting against the process.

On disk: ``states.bin`` (the serialised states back to back, in ascending user id) and
``states_index.npz`` (``uids``, ``offsets``; ``offsets`` has one more entry than ``uids``).

>>> import tempfile
>>> d = Path(tempfile.mkdtemp())
>>> write_seeds(d, [(3, b"three"), (7, b"seven")])
2
>>> seeds = SeedFile.open(d)
>>> seeds.get(7), seeds.get(5), len(seeds), list(seeds)
(b'seven', None, 2, [3, 7])
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import numpy as np

from schemas.errors import InvalidData

__all__ = ["BLOB", "INDEX", "SeedFile", "write_seeds"]

BLOB = "states.bin"
INDEX = "states_index.npz"


def write_seeds(out_dir: Path, seeds: Iterable[tuple[int, bytes]]) -> int:
    """Write ``(user_id, serialised state)`` pairs, given in ascending user id, streaming
    them to ``out_dir``; returns how many. ValueError when the ids do not ascend."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    uids: list[int] = []
    offsets = [0]
    with open(out / BLOB, "wb") as f:
        for uid, blob in seeds:
            if uids and uid <= uids[-1]:
                raise ValueError(f"seeds must ascend by user id: {uid} after {uids[-1]}")
            f.write(blob)
            uids.append(uid)
            offsets.append(offsets[-1] + len(blob))
    np.savez(out / INDEX, uids=np.array(uids, dtype=np.int64), offsets=np.array(offsets, np.int64))
    return len(uids)


class SeedFile(Mapping[int, bytes]):
    """Read-only ``user id -> serialised seed state``, read from disk on each lookup."""

    def __init__(self, path: Path, uids: np.ndarray, offsets: np.ndarray) -> None:
        self.path = Path(path)
        self.uids = uids
        self.offsets = offsets
        self._fd: int | None = os.open(self.path, os.O_RDONLY)  # the file as it was loaded

    @classmethod
    def open(cls, in_dir: Path) -> SeedFile:
        """The seeds written by :func:`write_seeds` to ``in_dir``; InvalidData if unreadable."""
        d = Path(in_dir)
        try:
            with np.load(d / INDEX) as z:
                uids, offsets = z["uids"], z["offsets"]
            size = (d / BLOB).stat().st_size
        except (OSError, KeyError, ValueError) as exc:
            raise InvalidData(f"cannot read seeded states from {d}: {exc}") from exc
        if len(offsets) != len(uids) + 1 or (len(uids) and int(offsets[-1]) != size):
            raise InvalidData(f"{d / INDEX} does not describe {d / BLOB}; rebuild the artifacts")
        return cls(d / BLOB, uids, offsets)

    def _index(self, user_id: int) -> int:
        i = int(np.searchsorted(self.uids, user_id))
        return i if i < len(self.uids) and int(self.uids[i]) == user_id else -1

    def __getitem__(self, user_id: int) -> bytes:
        i = self._index(user_id)
        if i < 0:
            raise KeyError(user_id)
        start, end = int(self.offsets[i]), int(self.offsets[i + 1])
        return os.pread(self._fd, end - start, start)  # type: ignore[arg-type]

    def __contains__(self, user_id: object) -> bool:
        return isinstance(user_id, int) and self._index(user_id) >= 0

    def __iter__(self) -> Iterator[int]:
        return iter(self.uids.tolist())

    def __len__(self) -> int:
        return len(self.uids)

    def __del__(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
