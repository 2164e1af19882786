"""``LmdbStorage``: the ``Storage`` protocol on LMDB, one write transaction per ``Write``.

See docs/storage.md for the on-disk layout, the durability contract and what
happens on corruption; ``records.py`` has the record layouts.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import struct
import uuid
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import attrs
import lmdb

from pyconsensus.adapters.lmdb import records
from pyconsensus.adapters.lmdb.snapshot_records import decode_meta, encode_meta
from pyconsensus.adapters.lmdb.snapshots import FileSnapshotStore
from pyconsensus.core.errors import StorageCorruption, StorageError, StorageMismatch
from pyconsensus.core.ready import Write
from pyconsensus.core.snapshots import SnapshotMeta, SnapshotStage
from pyconsensus.core.types import Entry, MetaValue, NodeId, Snapshot

FORMAT_VERSION: Final = 2
"""Version of the on-disk layout. Opening a directory written by a newer
version fails with ``StorageMismatch`` instead of misreading it. Version 2
added the incarnation id; a version-1 directory gets one when first opened."""

DEFAULT_MAP_SIZE: Final = 1 << 30
"""Largest size the data file may grow to (LMDB's map size): 1 GiB."""

DEFAULT_VERIFY_ENTRIES: Final = 1024
"""How many of the newest entries ``open`` reads back and checksums (see
``LmdbStorage``); ``None`` verifies every entry."""

LOCK_FILE: Final = "pyconsensus.lock"

_FORMAT_KEY: Final = b"format"
_CLUSTER_KEY: Final = b"cluster_id"
_NODE_KEY: Final = b"node_id"
_INCARNATION_KEY: Final = b"incarnation"
_LOG_KEY: Final = b"log"
_SNAPSHOT_KEY: Final = b"snapshot"
_CURRENT_KEY: Final = b"current"  # the SnapshotMeta of the current snapshot (files in snapshots/)
SNAPSHOT_DIR: Final = "snapshots"
_FULL_ERRNOS: Final = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})
_NEARLY_FULL: Final = 1 << 20  # free bytes under which a failed write counts as "disk full"

log = logging.getLogger(__name__)


class StorageFull(StorageError):
    """The write did not fit: LMDB's map size is exhausted or the disk is full.

    Nothing of the failed write was stored, and the storage refuses further
    writes (see ``LmdbStorage.failure``); reopen it with a larger ``map_size``
    or after freeing disk space. Everything written before is intact.
    """


class DataDirectoryError(StorageError):
    """The directory cannot be created or written: a file is in its way, its
    parent or itself is read-only, or the filesystem is. Nothing was stored."""


class DurabilityWarning(UserWarning):
    """Issued when a storage is opened with ``sync=False``."""


class LmdbStorage:
    """Durable ``Storage`` in an LMDB environment (a directory).

    Every ``write`` is one LMDB write transaction: all of its parts or none of
    them survive a crash (group commit: one ``Write`` of many entries costs one
    commit). With ``sync=True`` (the default) the commit is flushed to disk
    before ``write`` returns, so what ``write`` acknowledged survives a power
    loss. ``sync=False`` skips the flush: fast, and a *process* crash still
    loses nothing (the data is in the OS page cache), but a machine crash or
    power loss may lose the latest writes - which lets a node forget a vote or
    an acknowledged entry and break consensus safety. Use it for benchmarks
    and tests only; it warns when used.

    The directory remembers which cluster and node it belongs to (recorded at
    first open) and opening it as anyone else raises ``StorageMismatch``. It
    also records a random ``incarnation`` id at creation: the same node id
    with a wiped directory is a new incarnation.
    Opening checks the bookkeeping of the log (first and last index, entry
    count) against the database, which catches a missing range in O(1), and
    reads back the first entry and the newest ``verify_entries`` entries
    (``None``: all of them) checking their checksums: a larger scan costs
    open time in proportion to the log. Every later read verifies checksums
    too, so damaged data raises ``StorageCorruption`` instead of being served.

    Only one ``LmdbStorage`` at a time may use a directory (an exclusive
    ``flock`` on ``pyconsensus.lock`` enforces it across processes), and an
    instance is not thread-safe: it belongs to the one driver of its node.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        cluster_id: str,
        node_id: NodeId,
        sync: bool = True,
        map_size: int = DEFAULT_MAP_SIZE,
        verify_entries: int | None = DEFAULT_VERIFY_ENTRIES,
        create: bool = True,
    ) -> None:
        if type(cluster_id) is not str or not cluster_id:
            raise StorageError(f"cluster_id must be a non-empty str, got {cluster_id!r}")
        if type(node_id) is not int or node_id < 0:
            raise StorageError(f"node_id must be a non-negative int, got {node_id!r}")
        self.path = Path(path)
        self.cluster_id = cluster_id
        self.node_id = node_id
        self.sync = sync
        self.map_size = map_size
        self.commits = 0
        """How many write transactions were committed (one per non-empty ``write``)."""
        self.failure: StorageError | None = None
        """Set once a write failed in LMDB; from then on writes are refused."""
        self._closed = False
        if not sync:
            message = (
                f"LmdbStorage({str(self.path)!r}) opened with sync=False: writes are not "
                "flushed to disk, so a machine crash or power loss can lose acknowledged "
                "writes and votes and break consensus safety. Use it only for benchmarks."
            )
            warnings.warn(DurabilityWarning(message), stacklevel=2)
            log.warning(message)
        if create:
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DataDirectoryError(
                    f"cannot create the data directory {self.path}: {_reason(exc)}"
                ) from exc
        elif not self.path.is_dir():
            raise StorageError(f"{self.path} does not exist (pass create=True to create it)")
        self._lock_fd = _lock(self.path)
        try:
            self._env = _open_env(self.path, map_size=map_size, sync=sync)
            try:
                self._open_databases()
                legacy = self._load(verify_entries)
                self._files = self._open_snapshot_files(legacy)
            except BaseException:
                self._env.close()
                raise
        except BaseException:
            os.close(self._lock_fd)
            raise

    # -- opening -----------------------------------------------------------

    def _open_databases(self) -> None:
        with _lmdb_errors("open"), self._env.begin(write=True) as txn:
            self._meta = self._env.open_db(b"meta", txn=txn)
            self._hard = self._env.open_db(b"hard", txn=txn)
            self._log = self._env.open_db(b"log", txn=txn)
            self._snap = self._env.open_db(b"snapshot", txn=txn)
            stored = txn.get(_FORMAT_KEY, db=self._meta)
            if stored is None:
                self._initialize(txn)
            elif stored == b"1":
                self._upgrade_from_1(txn)

    def _initialize(self, txn: Any) -> None:
        """Record format and identity in a brand-new directory (in the same
        transaction that created the databases)."""
        for db in (self._hard, self._log, self._snap):
            if txn.stat(db)["entries"]:
                raise StorageCorruption(
                    f"{self.path}: data without a format marker; this is not a complete "
                    "pyconsensus storage"
                )
        txn.put(_FORMAT_KEY, str(FORMAT_VERSION).encode(), db=self._meta)
        txn.put(_CLUSTER_KEY, records.encode_value(self.cluster_id, "cluster_id"), db=self._meta)
        txn.put(_NODE_KEY, records.encode_value(self.node_id, "node_id"), db=self._meta)
        txn.put(_LOG_KEY, records.encode_log_state(0, 0, 0), db=self._meta)
        _put_new_incarnation(txn, self._meta)

    def _upgrade_from_1(self, txn: Any) -> None:
        """Format 1 had no incarnation: give the directory one (it has been the
        same node all along) and mark it format 2, in one transaction."""
        _put_new_incarnation(txn, self._meta)
        txn.put(_FORMAT_KEY, str(FORMAT_VERSION).encode(), db=self._meta)
        log.info(
            "%s: storage format 1 upgraded to %d (incarnation added)", self.path, FORMAT_VERSION
        )

    def _load(self, verify_entries: int | None) -> Snapshot | None:
        """Load and check the bookkeeping; returns a snapshot stored whole
        (before chunked snapshots), if there is one, for the caller to move."""
        with _lmdb_errors("open"), self._env.begin(buffers=True) as txn:
            self._check_format(txn.get(_FORMAT_KEY, db=self._meta))
            self._check_identity(txn)
            self._incarnation = self._load_incarnation(txn)
            self._metadata = self._load_metadata(txn)
            snapshot = self._load_snapshot(txn)
            self._current = self._load_current(txn)
            floor = self._current if self._current is not None else snapshot
            self._floor = floor.index if floor is not None else 0
            self._floor_term = floor.term if floor is not None else 0
            self._first, self._last, self._count = self._check_log_state(txn)
            if self._count and self._first <= self._floor:
                raise StorageCorruption(
                    f"{self.path}: entry {self._first} is at or below the snapshot index "
                    f"{self._floor}; compaction was not applied completely"
                )
            self._verify_entries(txn, verify_entries)
        return snapshot

    def _check_format(self, stored: bytes | memoryview | None) -> None:
        raw = bytes(stored) if stored is not None else b""
        if not raw.isdigit():
            raise StorageCorruption(f"{self.path}: unreadable format marker {raw!r}")
        version = int(raw)
        if version > FORMAT_VERSION:
            raise StorageMismatch(
                f"{self.path} was written by storage format version {version}; this "
                f"pyconsensus reads format {FORMAT_VERSION} and older. Upgrade pyconsensus "
                "to open it (downgrading a node's storage is not supported)."
            )
        if version != FORMAT_VERSION:
            raise StorageMismatch(f"{self.path}: storage format version {version} is unknown")

    def _check_identity(self, txn: Any) -> None:
        cluster = self._meta_value(txn, _CLUSTER_KEY)
        node = self._meta_value(txn, _NODE_KEY)
        if cluster != self.cluster_id or node != self.node_id:
            raise StorageMismatch(
                f"{self.path} belongs to node {node!r} of cluster {cluster!r}, not to node "
                f"{self.node_id!r} of cluster {self.cluster_id!r}; refusing to use another "
                "node's state"
            )

    def _load_incarnation(self, txn: Any) -> str:
        value = self._meta_value(txn, _INCARNATION_KEY)
        if type(value) is not str or not value:
            raise StorageCorruption(f"{self.path}: the incarnation is {value!r}, not an id")
        return value

    def _meta_value(self, txn: Any, key: bytes) -> MetaValue:
        raw = txn.get(key, db=self._meta)
        if raw is None:
            raise StorageCorruption(f"{self.path}: {key.decode()} is missing")
        return records.decode_value(raw, key.decode())

    def _load_metadata(self, txn: Any) -> dict[str, MetaValue]:
        metadata: dict[str, MetaValue] = {}
        for raw_key, raw_value in txn.cursor(db=self._hard):
            try:
                key = bytes(raw_key).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise StorageCorruption(f"metadata key {bytes(raw_key)!r}: {exc}") from exc
            metadata[key] = records.decode_value(raw_value, f"metadata {key!r}")
        return metadata

    def _load_snapshot(self, txn: Any) -> Snapshot | None:
        raw = txn.get(_SNAPSHOT_KEY, db=self._snap)
        return records.decode_snapshot(raw) if raw is not None else None

    def _load_current(self, txn: Any) -> SnapshotMeta | None:
        raw = txn.get(_CURRENT_KEY, db=self._snap)
        return decode_meta(raw, "current snapshot") if raw is not None else None

    def _check_log_state(self, txn: Any) -> tuple[int, int, int]:
        """Compare the recorded (first, last, count) with what the B-tree holds."""
        raw = txn.get(_LOG_KEY, db=self._meta)
        if raw is None:
            raise StorageCorruption(f"{self.path}: the log state record is missing")
        first, last, count = records.decode_log_state(raw)
        actual_first, actual_last, actual = _log_bounds(txn, self._log, txn.cursor(db=self._log))
        if (first, last, count) != (actual_first, actual_last, actual):
            raise StorageCorruption(
                f"{self.path}: the log should hold {count} entries from {first} to {last}, "
                f"but holds {actual} from {actual_first} to {actual_last}; a range of "
                "entries is missing or was added behind the storage's back"
            )
        return first, last, count

    def _verify_entries(self, txn: Any, limit: int | None) -> None:
        if not self._count:
            return
        cursor = txn.cursor(db=self._log)
        cursor.first()
        records.decode_entry(cursor.key(), cursor.value())
        if limit is None:
            seen = 0
            for key, value in cursor:
                records.decode_entry(key, value)
                seen += 1
            if seen != self._count:
                raise StorageCorruption(
                    f"{self.path}: a full scan found {seen} entries, the log state says "
                    f"{self._count}"
                )
            return
        cursor.last()
        for _ in range(min(limit, self._count)):
            records.decode_entry(cursor.key(), cursor.value())
            if not cursor.prev():
                break

    # -- the Storage protocol: reading -------------------------------------

    @property
    def incarnation(self) -> str:
        """The random id recorded when this directory was created (a uuid4 in
        hex); it never changes while the directory lives."""
        return self._incarnation

    @property
    def snapshots(self) -> FileSnapshotStore:
        """This node's snapshots: files in ``<path>/snapshots`` (see
        ``FileSnapshotStore``); the current one is recorded here, in LMDB, by
        the ``Write.snapshot`` that compacts the log to it."""
        return self._files

    def _open_snapshot_files(self, legacy: Snapshot | None) -> FileSnapshotStore:
        files = FileSnapshotStore(self.path / SNAPSHOT_DIR, sync=self.sync)
        if legacy is not None and self._current is None:
            self._current = self._move_legacy_snapshot(files, legacy)
        current = self._current
        if current is not None:
            if not files.holds(current):
                raise StorageCorruption(
                    f"{self.path}: the current snapshot (index {current.index}) is missing "
                    f"from {SNAPSHOT_DIR}/ or does not match its metadata"
                )
            files.current = current
        return files

    def _move_legacy_snapshot(self, files: FileSnapshotStore, legacy: Snapshot) -> SnapshotMeta:
        """A snapshot stored whole in LMDB (before chunked snapshots) becomes a
        file snapshot, recorded as current in the transaction that drops the
        old record."""
        writer = files.create(legacy.index, legacy.term, None)
        writer.write(legacy.data)
        meta = writer.finish()
        with _lmdb_errors("move the snapshot to its file"), self._env.begin(write=True) as txn:
            txn.put(_CURRENT_KEY, encode_meta(meta), db=self._snap)
            txn.delete(_SNAPSHOT_KEY, db=self._snap)
        log.info("%s: snapshot at %d moved into %s/", self.path, meta.index, SNAPSHOT_DIR)
        return meta

    def metadata(self) -> Mapping[str, MetaValue]:
        self._check_open()
        return dict(self._metadata)

    def snapshot(self) -> SnapshotMeta | None:
        """The current snapshot's metadata (its bytes: ``snapshots.open``)."""
        self._check_open()
        return self._current

    def first_index(self) -> int:
        self._check_open()
        return self._first if self._count else self.last_index() + 1

    def last_index(self) -> int:
        self._check_open()
        return self._last if self._count else self._floor

    def entries(self, lo: int, hi: int) -> list[Entry]:
        self._check_open()
        if not self._count:
            return []
        lo = max(lo, self._first)
        hi = min(hi, self._last + 1)
        if lo >= hi:
            return []
        key_index = records.key_index
        decode = records.decode_entry_at
        found: list[Entry] = []
        with _lmdb_errors("read entries"), self._env.begin(db=self._log, buffers=True) as txn:
            cursor = txn.cursor()
            if not cursor.set_range(records.index_key(lo)):
                return found
            for key, value in cursor:
                index = key_index(key)
                if index >= hi:
                    break
                found.append(decode(index, value))
        return found

    def verify(self) -> int:
        """Read back and checksum every entry, the snapshot and the metadata;
        return how many entries there are. Raises ``StorageCorruption``."""
        self._check_open()
        with _lmdb_errors("verify"), self._env.begin(buffers=True) as txn:
            self._load_metadata(txn)
            self._load_snapshot(txn)
            self._check_log_state(txn)
            self._verify_entries(txn, None)
        return self._count

    # -- the Storage protocol: writing -------------------------------------

    def write(self, write: Write) -> None:
        """Apply ``write`` in one LMDB transaction, in the order ``Write`` documents:
        snapshot (dropping entries up to its index), truncation, entries, metadata.
        Its ``stage`` part goes to the snapshot files (``snapshots``) first, flushed
        before the transaction; a write of a stage part alone needs no transaction.

        Returns once the transaction is committed (and flushed, with ``sync``).
        Invalid parts (an entry at or below the snapshot index, a value that
        cannot be stored) raise ``StorageError`` before anything is written;
        a failure inside LMDB aborts the transaction, raises ``StorageError``
        (``StorageFull`` when out of space) and makes the storage refuse
        further writes.
        """
        self._check_open()
        if self.failure is not None:
            raise StorageError(
                f"{self.path}: refusing writes after an earlier failure ({self.failure}); "
                "the stored data is intact - reopen the storage to continue"
            )
        if write.is_empty():
            return
        stage = write.stage
        if stage is None:
            self._commit(write)
            return
        self._files.check_stage(stage.meta, stage.offset, stage.data)
        rest = attrs.evolve(write, stage=None)
        if rest.is_empty():
            # Staged bytes alone need no transaction (a receiver's common write).
            self._stage(stage.meta, stage.offset, stage.data)
            return
        self._commit(rest, stage)

    def _commit(self, write: Write, stage: SnapshotStage | None = None) -> None:
        """``write`` (without its stage part) in one LMDB transaction, after
        ``stage`` is durably staged."""
        snapshot = write.snapshot
        if write.truncate_from is not None and type(write.truncate_from) is not int:
            raise StorageError(f"truncate_from must be an int, got {write.truncate_from!r}")
        floor = snapshot.index if snapshot is not None else self._floor
        snapshot_key, snapshot_record = self._snapshot_record(snapshot)
        items, ascending = _encode_entries(write.entries, floor)
        metadata = [
            (_meta_key(key), records.encode_value(value, f"metadata {key!r}"))
            for key, value in write.metadata.items()
        ]
        # Appending past the current last index (the common case) lets LMDB
        # skip its search, and lets us update the log bookkeeping without
        # asking the B-tree.
        last_bound = self._last if self._count else 0
        if write.truncate_from is not None:
            last_bound = min(last_bound, write.truncate_from - 1)
        append = ascending and bool(items) and records.key_index(items[0][0]) > last_bound
        shortcut = append and snapshot is None and write.truncate_from is None
        if stage is not None:
            # Staged bytes are flushed before the transaction: once it is
            # durable, so are they (an earlier crash leaves extra staged bytes
            # that no acknowledgement counted on - harmless).
            self._stage(stage.meta, stage.offset, stage.data)
        try:
            with self._env.begin(write=True) as txn:
                cursor = txn.cursor(db=self._log)
                if snapshot_record is not None:
                    txn.put(snapshot_key, snapshot_record, db=self._snap)
                    above = records.index_key(floor + 1) if floor < records.MAX_U64 else None
                    _delete_range(cursor, None, above)
                if write.truncate_from is not None:
                    start = max(write.truncate_from, 0)
                    if start <= records.MAX_U64:
                        _delete_range(cursor, records.index_key(start), None)
                if items:
                    cursor.putmulti(items, append=append)
                for key, value in metadata:
                    txn.put(key, value, db=self._hard)
                if shortcut:
                    count = self._count + len(items)
                    first = self._first if self._count else records.key_index(items[0][0])
                    last = records.key_index(items[-1][0])
                else:
                    first, last, count = _log_bounds(txn, self._log, cursor)
                txn.put(_LOG_KEY, records.encode_log_state(first, last, count), db=self._meta)
        except lmdb.Error as exc:
            self.failure = _write_failure(self.path, exc)
            log.error("%s", self.failure)
            raise self.failure from exc
        self.commits += 1
        self._first, self._last, self._count = first, last, count
        if snapshot is not None:
            self._floor, self._floor_term = snapshot.index, snapshot.term
        if snapshot is not None:
            self._current = snapshot
            self._files.make_current(snapshot)
        self._metadata.update(write.metadata)

    def _snapshot_record(self, snapshot: SnapshotMeta | None) -> tuple[bytes, bytes | None]:
        """Where and how ``Write.snapshot`` is recorded: the metadata of a
        snapshot complete in ``snapshots``, under ``current``."""
        if snapshot is None:
            return _CURRENT_KEY, None
        if not isinstance(snapshot, SnapshotMeta):
            raise StorageError(f"cannot store snapshot {snapshot!r}: not a SnapshotMeta")
        if not self._files.holds(snapshot):
            raise StorageError(
                f"snapshot at {snapshot.index} is not complete in the store: finish or "
                "install it before the write that makes it current"
            )
        return _CURRENT_KEY, encode_meta(snapshot)

    def _stage(self, meta: SnapshotMeta, offset: int, data: bytes) -> None:
        try:
            self._files.stage(meta, offset, data)
        except OSError as exc:
            self.failure = StorageError(f"{self.path}: staging snapshot bytes failed: {exc}")
            log.error("%s", self.failure)
            raise self.failure from exc

    def close(self) -> None:
        """Close the environment (flushing first when ``sync=False``) and release
        the directory lock. Further use raises ``StorageError``."""
        if self._closed:
            return
        self._closed = True
        try:
            if not self.sync and self.failure is None:
                self._env.sync(True)
        finally:
            self._env.close()
            os.close(self._lock_fd)

    def __enter__(self) -> LmdbStorage:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(f"{self.path}: the storage is closed")

    def __repr__(self) -> str:
        return (
            f"LmdbStorage({str(self.path)!r}, cluster_id={self.cluster_id!r}, "
            f"node_id={self.node_id}, sync={self.sync})"
        )


def _encode_entries(entries: Any, floor: int) -> tuple[list[tuple[bytes, bytes]], bool]:
    """(key, record) pairs of ``entries`` and whether their indices ascend strictly.

    ``records.encode_entry`` inlined: this loop is the adapter's per-entry cost.
    """
    items: list[tuple[bytes, bytes]] = []
    append = items.append
    ascending = True
    previous = -1
    pack_key = records.KEY.pack
    pack_head = records.ENTRY_HEAD.pack
    pack_crc = records.CRC.pack
    crc32 = records.crc32
    try:
        for entry in entries:
            index = entry.index
            if type(index) is not int or index <= floor:
                raise StorageError(f"entry {index!r} is at or below the snapshot index {floor}")
            if index <= previous:
                ascending = False
            previous = index
            body = pack_head(index, entry.term, entry.kind) + entry.data
            append((pack_key(index), body + pack_crc(crc32(body))))
    except (struct.error, TypeError, AttributeError) as exc:
        raise StorageError(f"cannot store entry {entry!r}: {exc}") from exc
    return items, ascending


def _log_bounds(txn: Any, db: Any, cursor: Any) -> tuple[int, int, int]:
    """(first, last, count) of the log as the B-tree holds it."""
    count: int = txn.stat(db)["entries"]
    if not count:
        return 0, 0, 0
    cursor.first()
    first = records.key_index(cursor.key())
    cursor.last()
    return first, records.key_index(cursor.key()), count


def _meta_key(key: str) -> bytes:
    if type(key) is not str or not key:
        raise StorageError(f"metadata keys must be non-empty str, got {key!r}")
    try:
        return key.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise StorageError(f"metadata key {key!r}: {exc}") from exc


def _delete_range(cursor: Any, lo: bytes | None, hi: bytes | None) -> None:
    """Delete the keys in ``[lo, hi)`` (``None``: unbounded) under ``cursor``."""
    positioned = cursor.first() if lo is None else cursor.set_range(lo)
    if not positioned:
        return
    while True:
        key = cursor.key()
        if not key or (hi is not None and key >= hi):
            return
        if not cursor.delete():
            return


def _put_new_incarnation(txn: Any, meta: Any) -> None:
    incarnation = uuid.uuid4().hex
    txn.put(_INCARNATION_KEY, records.encode_value(incarnation, "incarnation"), db=meta)


def _lock(path: Path) -> int:
    try:
        fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise DataDirectoryError(
            f"cannot write in the data directory {path}: {_reason(exc)}"
        ) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        os.close(fd)
        raise StorageError(
            f"{path} is in use by another LmdbStorage (process or object); a node's "
            "storage must have exactly one user"
        ) from exc
    return fd


def _reason(error: OSError) -> str:
    """``error`` as a short phrase ("permission denied"), without errno noise."""
    text = error.strerror or str(error)
    return text[:1].lower() + text[1:]


def _open_env(path: Path, *, map_size: int, sync: bool) -> Any:
    with _lmdb_errors("open"):
        return lmdb.open(
            str(path),
            map_size=map_size,
            max_dbs=4,
            subdir=True,
            sync=sync,
            metasync=sync,
            lock=True,
            writemap=False,  # a stray pointer write can't reach the file
            readahead=False,  # point reads by index; don't pull whole regions in
        )


@contextmanager
def _lmdb_errors(action: str) -> Iterator[None]:
    """Translate LMDB's exceptions into the storage error family."""
    try:
        yield
    except lmdb.Error as exc:
        detail = f"cannot {action}: {type(exc).__name__}: {exc}"
        if isinstance(
            exc,
            lmdb.InvalidError
            | lmdb.CorruptedError
            | lmdb.PageNotFoundError
            | lmdb.PanicError
            | lmdb.BadChecksumError,
        ):
            raise StorageCorruption(detail) from exc
        if isinstance(exc, lmdb.VersionMismatchError | lmdb.IncompatibleError):
            raise StorageMismatch(detail) from exc
        raise StorageError(detail) from exc


def _write_failure(path: Path, exc: lmdb.Error) -> StorageError:
    text = str(exc)
    if isinstance(exc, lmdb.MapFullError):
        return StorageFull(
            f"{path}: the write does not fit in the LMDB map ({exc}); reopen with a larger "
            "map_size or compact the log"
        )
    # LMDB reports a short write (what a full disk causes) as EIO, so look at
    # the filesystem to tell a full disk from a failing one.
    free = _free_bytes(path)
    if any(os.strerror(code) in text for code in _FULL_ERRNOS) or (
        free is not None and free < _NEARLY_FULL
    ):
        return StorageFull(
            f"{path}: the disk is full ({exc}; {free} bytes free); free space and reopen"
        )
    return StorageError(f"{path}: the write failed in LMDB ({type(exc).__name__}: {exc})")


def _free_bytes(path: Path) -> int | None:
    try:
        stat = os.statvfs(path)
    except OSError:
        return None
    return stat.f_bavail * stat.f_frsize
