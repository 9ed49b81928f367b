"""Where the user-state table keeps its values: RocksDB on local disk (production) or memory.

With RocksDB a restarted worker reads back only the changelog records written after the ones
its local database already holds, instead of the whole changelog, and one process can own far
more shoppers than fit in memory. The table stays the one source of truth it was: the local
database is a cache of the changelog that survives restarts.

Two things about Faust's own ``rocksdb://`` store decide the shape of this module:

* It finds a key's partition database from the *current stream event*; the worker's batch task
  has none (:mod:`stream_app.worker.intake`). :class:`PartitionedRocksStore` computes the
  partition from the key with the producers' partitioner instead (:func:`partition_of`), which
  with ``use_partitioner=True`` is also the key's changelog partition.
* Faust remembers how far into the changelog a local database is (its *persisted offset*) when
  its own changelog sends complete; the worker sends changelog records itself
  (:mod:`stream_app.worker.changelog`). :meth:`PartitionedRocksStore.write_confirmed` therefore
  writes values together with that offset in one atomic RocksDB write batch, and only once
  Kafka has confirmed them: the local database never holds a value the changelog lacks, so a
  ``kill -9`` at any moment leaves it a prefix of the changelog, which recovery then completes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from aiokafka.partitioner import murmur2
from faust.stores import rocksdb as faust_rocksdb
from faust.types import TP

__all__ = [
    "STORES",
    "PartitionedRocksStore",
    "StoppedPartition",
    "confirmed_offsets",
    "estimated_keys",
    "partition_of",
    "read_stopped",
    "rocksdb_options",
    "store_url",
]

STORES = ("rocksdb", "memory")
"""Values of ``Settings.table_store``."""

MB = 1024 * 1024


class StoppedPartition(NamedTuple):
    """One partition database of a stopped worker."""

    offset: int | None
    """The changelog offset it holds everything up to (None: none recorded)."""
    values: dict[bytes, bytes]


def partition_of(key: bytes, partitions: int) -> int:
    """The partition the producers' default partitioner (Kafka's murmur2, aiokafka's
    ``DefaultPartitioner``, the one Faust's producer uses) gives ``key``: with
    ``use_partitioner=True`` the user's changelog partition, and the partition of the user's
    input events.

    >>> [partition_of(k, 8) for k in (b"1", b"2", b"42", b"206209")]
    [7, 0, 4, 7]
    """
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def store_url(kind: str) -> str:
    """The Faust store URL of a ``table_store`` setting; ValueError for an unknown one.

    >>> store_url("rocksdb"), store_url("memory")
    ('rocksdb://', 'memory://')
    """
    if kind not in STORES:
        raise ValueError(f"unknown table store {kind!r}; expected one of {', '.join(STORES)}")
    return f"{kind}://"


def rocksdb_options(*, block_cache_mb: int, write_buffer_mb: int) -> dict[str, Any]:
    """RocksDB options of every partition database (Faust's defaults give each partition a
    2 GiB block cache and three 64 MB memtables: far more than one worker can hold for eight).
    """
    return {
        "driver": "rocksdict",
        "block_cache_size": block_cache_mb * MB,
        "block_cache_compressed_size": 0,
        "write_buffer_size": write_buffer_mb * MB,
        "max_write_buffer_number": 2,
    }


class PartitionedRocksStore(faust_rocksdb.Store):
    """Faust's RocksDB store, with a key's partition database chosen by the key itself."""

    def partition(self, key: bytes) -> int:
        """The partition database of a (serialised) key."""
        return partition_of(key, self.table.partitions)

    def _set(self, key: bytes, value: bytes | None) -> None:
        self._db_for_partition(self.partition(key)).put(key, value)

    def _get(self, key: bytes) -> bytes | None:
        return self._db_for_partition(self.partition(key)).get(key)

    def _contains(self, key: bytes) -> bool:
        return self._get(key) is not None

    def _del(self, key: bytes) -> None:
        self._db_for_partition(self.partition(key)).delete(key)

    def write_confirmed(self, values: Mapping[bytes, bytes], offsets: Mapping[TP, int]) -> None:
        """Write changelog-confirmed ``values`` and, in the same atomic batch per partition,
        the highest confirmed changelog ``offsets``: what recovery resumes after."""
        batches: dict[int, Any] = {}

        def batch(partition: int) -> Any:
            if partition not in batches:
                batches[partition] = faust_rocksdb.rocksdict.WriteBatch(raw_mode=True)
            return batches[partition]

        for key, value in values.items():
            batch(self.partition(key)).put(key, value)
        for tp, offset in offsets.items():
            batch(tp.partition).put(self.offset_key, str(offset).encode())
        for p, batch_ in batches.items():
            self._db_for_partition(p).write(batch_)

    def estimated_size(self) -> int:
        """RocksDB's estimate of the keys of the active partitions (counting them all would
        read every value of a million shoppers on each metrics scrape)."""
        return sum(
            db.property_int_value("rocksdb.estimate-num-keys") or 0
            for db in self._dbs_for_actives()
        )


def read_stopped(tabledir: Path, table: str = "user-state") -> dict[int, StoppedPartition]:
    """What a stopped worker's RocksDB databases of ``table`` hold (Faust's ``tabledir``,
    ``{datadir}/v1/tables``): per partition, its persisted changelog offset and its values.
    For tests and measurements: the databases must not be open in a running worker."""
    import rocksdict

    out = {}
    for path in sorted(Path(tabledir).glob(f"{table}-*.db")):
        db = rocksdict.Rdict(
            str(path),
            options=rocksdict.Options(raw_mode=True),
            access_type=rocksdict.AccessType.read_only(),
        )
        try:
            values = dict(db.items())
        finally:
            db.close()
        offset = values.pop(faust_rocksdb.Store.offset_key, None)
        partition = int(path.name[len(table) + 1 : -len(".db")])
        out[partition] = StoppedPartition(None if offset is None else int(offset), values)
    return out


def estimated_keys(store: Any) -> int:
    """How many keys a table store holds: exact for memory, RocksDB's estimate otherwise."""
    if isinstance(store, PartitionedRocksStore):
        return store.estimated_size()
    return len(store)


def confirmed_offsets(records: Iterable[Any]) -> dict[TP, int]:
    """The highest offset per topic partition of sent records' metadata."""
    out: dict[TP, int] = {}
    for meta in records:
        tp = TP(meta.topic, meta.partition)
        if meta.offset > out.get(tp, -1):
            out[tp] = meta.offset
    return out
