"""``FileSnapshotStore``: snapshots as files beside the LMDB environment.

A snapshot's bytes are one file, written (or received) in bounded chunks and
read back in bounded chunks - no component holds a snapshot whole. Files beat
LMDB values here (docs/storage.md, "Snapshots", has the measurement): a
snapshot is written once, sequentially, and read sequentially, which a plain
file does with one ``fdatasync`` at the end, while LMDB would copy every page
through its B-tree and needs a map as large as the snapshot twice over.

Layout of the directory (``snapshots/`` inside a node's data directory)::

    <index>-<term>.snap     the bytes of a complete snapshot
    <index>-<term>.meta     its SnapshotMeta, sealed with a CRC; written last:
                            a snapshot without its .meta does not exist
    staging.meta            the SnapshotMeta of the snapshot being received
    staging.snap            its bytes received so far
    staging.log             one sealed record per chunk durably staged
    *.tmp                   a write cut short; removed when the store opens

Durability: every file that matters is ``fdatasync``-ed and so is the
directory after each rename, so what a method returned survives a power
loss (``sync=False`` skips the flushes, for tests and benchmarks only).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import zlib
from collections import Counter
from pathlib import Path
from typing import Final

from pyconsensus.adapters.lmdb.snapshot_records import (
    STAGED_RECORD_BYTES,
    decode_meta,
    decode_staged,
    encode_meta,
    encode_staged,
)
from pyconsensus.core.errors import (
    CorruptSnapshot,
    SnapshotRejected,
    StorageCorruption,
    StorageError,
)
from pyconsensus.core.membership import Membership
from pyconsensus.core.snapshots import Checksum, SnapshotMeta

READ_BLOCK: Final = 1 << 20
"""How much ``install`` and ``verify`` read at a time while checksumming."""

STAGING: Final = "staging"
READ_AHEAD: Final = 4
"""Chunks a reader asks the kernel to prefetch beyond the one it reads."""

log = logging.getLogger(__name__)


def _name(meta: SnapshotMeta) -> str:
    return f"{meta.index:020d}-{meta.term:020d}"


def _order(meta: SnapshotMeta) -> tuple[int, int]:
    return meta.index, meta.term


class FileSnapshotReader:
    """A ``SnapshotReader`` over one snapshot file (``os.pread``: readers
    share nothing and any number may be open). Close it when done; a file
    removed meanwhile stays readable until then."""

    def __init__(self, path: Path, meta: SnapshotMeta) -> None:
        self.meta = meta
        self._fd: int | None = os.open(path, os.O_RDONLY)

    @property
    def size(self) -> int:
        return self.meta.size

    def read(self, offset: int, limit: int) -> bytes:
        if self._fd is None:
            raise StorageError("the snapshot reader is closed")
        if offset < 0 or limit < 0:
            raise ValueError(f"cannot read {limit} bytes at offset {offset}")
        limit = max(0, min(limit, self.meta.size - offset))
        data = os.pread(self._fd, limit, offset)
        if limit:
            # Ask the kernel to fetch the next chunks meanwhile: a sender reads
            # them in its event loop, where waiting for the disk is a stall.
            os.posix_fadvise(self._fd, offset + limit, READ_AHEAD * limit, os.POSIX_FADV_WILLNEED)
        if len(data) != limit:
            raise StorageCorruption(
                f"snapshot {_name(self.meta)}: {len(data)} bytes at {offset}, expected {limit}; "
                "the file is shorter than its metadata says"
            )
        return data

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> FileSnapshotReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class FileSnapshotWriter:
    """Writes one local snapshot (``FileSnapshotStore.create``): ``write``
    appends, ``finish`` makes it durable and complete, ``abort`` drops it."""

    def __init__(
        self, store: FileSnapshotStore, index: int, term: int, membership: Membership | None
    ) -> None:
        self._store = store
        self.index = index
        self.term = term
        self.membership = membership
        self.size = 0
        self._checksum = Checksum()
        self._path = store.path / f"{index:020d}-{term:020d}.snap.tmp"
        self._file: int | None = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)

    def write(self, data: bytes) -> None:
        """Append ``data`` (any size; the caller decides the pieces)."""
        fd = self._require_open()
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        self._checksum.update(data)
        self.size += len(data)

    def finish(self) -> SnapshotMeta:
        """Flush the bytes, then publish the snapshot; returns its metadata."""
        fd = self._require_open()
        meta = SnapshotMeta(
            self.index, self.term, self.membership, self.size, self._checksum.value()
        )
        try:
            self._store._flush(fd)
        finally:
            os.close(fd)
            self._file = None
        self._store._publish(self._path, meta)
        return meta

    def abort(self) -> None:
        """Forget the snapshot written so far (idempotent)."""
        fd, self._file = self._file, None
        if fd is not None:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                self._path.unlink()

    def _require_open(self) -> int:
        if self._file is None:
            raise StorageError("the snapshot writer is finished or aborted")
        return self._file


class FileSnapshotStore:
    """Complete snapshots and one staging area, as files in ``path``.

    The ``SnapshotStore`` of ``LmdbStorage`` (``storage.snapshots``).
    Writing a local snapshot: ``create(index, term, membership)`` ->
    ``write``... -> ``finish()``. Reading: ``latest()`` (the current one, as
    the owner recorded it), ``open(meta)``.
    Receiving: ``stage(meta, offset, data)`` chunk by chunk (each durable when
    it returns, so the receiver may acknowledge it), ``staged()`` after a
    restart to resume, ``install(meta)`` once every byte is staged: it reads
    the staged bytes back, checks size and checksum, and only then makes
    them a complete snapshot. ``make_current(meta)`` (the owner, once its
    ``Write.snapshot`` is durable) removes older snapshots and a staging
    area that ``meta`` supersedes.

    Thread-safe: the runtime stages from its storage writer thread while a
    snapshot is written or installed in worker threads (a lock serialises the
    changes; reads of complete snapshots go on meanwhile).
    """

    def __init__(self, path: str | os.PathLike[str], *, sync: bool = True) -> None:
        self.path = Path(path)
        self.sync = sync
        self.counters: Counter[str] = Counter()
        self.path.mkdir(parents=True, exist_ok=True)
        self._complete: dict[str, SnapshotMeta] = {}
        self._staged: tuple[SnapshotMeta, int] | None = None
        self.current: SnapshotMeta | None = None
        """The current snapshot, set by the owning storage (``latest()``)."""
        self._lock = threading.RLock()
        self._recover()

    # -- reading -------------------------------------------------------

    def latest(self) -> SnapshotMeta | None:
        """The current snapshot: the one the owner's last durable
        ``Write.snapshot`` recorded (``current``), not merely the newest file."""
        return self.current

    def newest(self) -> SnapshotMeta | None:
        """The newest complete snapshot (by index, then term), if any."""
        if not self._complete:
            return None
        return max(self._complete.values(), key=_order)

    def holds(self, meta: SnapshotMeta) -> bool:
        """Whether ``meta`` is a complete snapshot here."""
        return self._complete.get(_name(meta)) == meta

    def snapshots(self) -> list[SnapshotMeta]:
        """Every complete snapshot, oldest first."""
        return sorted(self._complete.values(), key=_order)

    def open(self, meta: SnapshotMeta) -> FileSnapshotReader:
        """A reader of the complete snapshot ``meta``."""
        if not self.holds(meta):
            raise SnapshotRejected(meta.index, f"{self.path} holds no complete snapshot {meta!r}")
        return FileSnapshotReader(self.path / f"{_name(meta)}.snap", meta)

    def verify(self, meta: SnapshotMeta) -> None:
        """Read the snapshot back and check its size and checksum
        (``CorruptSnapshot`` if they do not match)."""
        path = self.path / f"{_name(meta)}.snap"
        self._check(path, meta)

    # -- writing a local snapshot --------------------------------------

    def create(self, index: int, term: int, membership: Membership | None) -> FileSnapshotWriter:
        """A writer for the local snapshot of the state at ``index``/``term``."""
        if type(index) is not int or type(term) is not int or index < 0 or term < 0:
            raise StorageError(
                f"a snapshot needs a non-negative index and term, got {index}, {term}"
            )
        return FileSnapshotWriter(self, index, term, membership)

    def make_current(self, meta: SnapshotMeta) -> None:
        """``meta`` is now the current snapshot (its ``Write.snapshot`` is
        durable): older snapshots go, and so does a staging area at or below it."""
        with self._lock:
            self.current = meta
            self.retain(meta)
            staged = self._staged
            if staged is not None and staged[0].index <= meta.index:
                self.discard_staging()

    def retain(self, meta: SnapshotMeta) -> int:
        """Remove the complete snapshots older than ``meta`` (the one the log
        is now compacted to); returns how many went. Open readers keep reading."""
        with self._lock:
            removed = 0
            for other in self.snapshots():
                if _order(other) < _order(meta):
                    self._remove_complete(other)
                    removed += 1
            if removed:
                self._sync_dir()
            return removed

        # -- receiving -----------------------------------------------------

    def staged(self) -> tuple[SnapshotMeta, int] | None:
        """The snapshot being received and how many of its bytes are durably staged."""
        return self._staged

    def stage(self, meta: SnapshotMeta, offset: int, data: bytes) -> int:
        """Stage ``data`` at ``offset`` of the snapshot ``meta``; durable when
        it returns. Returns the staged byte count (what the receiver may ack).

        A chunk of another snapshot than the one staged must start at 0: it
        replaces the staging area (the old transfer is superseded). A chunk
        already staged (a duplicate) changes nothing; a chunk beyond the staged
        end, or past ``meta.size``, raises ``SnapshotRejected``.
        """
        with self._lock:
            self.check_stage(meta, offset, data)
            staged = self._staged
            if staged is None or staged[0] != meta:
                self.discard_staging()
                self._begin_staging(meta)
                staged = (meta, 0)
            done = staged[1]
            end = offset + len(data)
            if end <= done:
                self.counters["chunks.duplicate"] += 1
                return done
            fresh = data[done - offset :]
            self._append_staged(done, fresh)
            self._staged = (meta, end)
            self.counters["chunks.staged"] += 1
            self.counters["bytes.staged"] += len(fresh)
            return end

    def check_stage(self, meta: SnapshotMeta, offset: int, data: bytes) -> None:
        """``StorageError`` if ``stage(meta, offset, data)`` would be refused."""
        staged = self._staged
        done = staged[1] if staged is not None and staged[0] == meta else 0
        if (staged is None or staged[0] != meta) and offset != 0:
            raise StorageError(
                f"chunk at {offset} of snapshot {_name(meta)}, which is not being staged"
            )
        if type(offset) is not int or offset < 0 or offset > done:
            raise StorageError(f"chunk at {offset} leaves a gap after {done} staged bytes")
        if offset + len(data) > meta.size:
            raise StorageError(
                f"chunk ends at {offset + len(data)}, past the snapshot's {meta.size} bytes"
            )

    def install(self, meta: SnapshotMeta) -> None:
        """Make the completely staged ``meta`` a complete snapshot, after
        reading every byte back and checking size and checksum (it becomes
        current only through the owner's ``Write.snapshot``). Installing one
        already complete here does nothing.

        ``SnapshotRejected`` if ``meta`` is not what is staged;
        ``CorruptSnapshot`` (staging discarded) if not all of it is staged or
        the bytes do not match.
        """
        with self._lock:
            if self.holds(meta):
                return
            staged = self._staged
            if staged is None or staged[0] != meta:
                self.counters["snapshots.rejected"] += 1
                raise SnapshotRejected(meta.index, "it is not the snapshot being staged")
            if staged[1] != meta.size:
                # The core asks only once every byte is staged: a mismatch with
                # the store is treated like damage (as MemorySnapshotStore does).
                self.counters["snapshots.corrupt"] += 1
                self.discard_staging()
                raise CorruptSnapshot(meta.index, f"staged up to {staged[1]} of {meta.size} bytes")
            try:
                self._check(self.path / f"{STAGING}.snap", meta)
            except CorruptSnapshot:
                self.counters["snapshots.corrupt"] += 1
                self.discard_staging()
                raise
            self._publish(self.path / f"{STAGING}.snap", meta)
            self._remove(f"{STAGING}.log", f"{STAGING}.meta")
            self._sync_dir()
            self._staged = None
            self.counters["snapshots.installed"] += 1

    def discard_staging(self) -> None:
        """Forget the snapshot being received, if any (superseded or stale)."""
        with self._lock:
            if self._staged is not None:
                self.counters["staging.discarded"] += 1
                log.info("%s: staging of snapshot %s discarded", self.path, _name(self._staged[0]))
            self._staged = None
            self._remove(f"{STAGING}.meta", f"{STAGING}.log", f"{STAGING}.snap")
            self._sync_dir()

    def close(self) -> None:
        """Nothing stays open between calls; present for symmetry."""

    # -- internals -----------------------------------------------------

    def _publish(self, data_path: Path, meta: SnapshotMeta) -> None:
        """Rename the flushed ``data_path`` into place, then write the meta
        record that makes the snapshot exist."""
        with self._lock:
            name = _name(meta)
            os.replace(data_path, self.path / f"{name}.snap")
            self._write_file(f"{name}.meta", encode_meta(meta))
            self._complete[name] = meta
            self.counters["snapshots.published"] += 1

    def _check(self, path: Path, meta: SnapshotMeta) -> None:
        running = Checksum()
        size = 0
        with open(path, "rb", buffering=0) as file:
            while block := file.read(READ_BLOCK):
                running.update(block)
                size += len(block)
        if size != meta.size or running.value() != meta.checksum:
            raise CorruptSnapshot(
                meta.index,
                f"{size} bytes with {running.value()}, expected {meta.size} bytes with "
                f"{meta.checksum}",
            )

    def _begin_staging(self, meta: SnapshotMeta) -> None:
        for name in ("snap", "log"):
            os.close(os.open(self.path / f"{STAGING}.{name}", os.O_WRONLY | os.O_CREAT, 0o644))
        self._write_file(f"{STAGING}.meta", encode_meta(meta))
        self._staged = (meta, 0)

    def _append_staged(self, offset: int, data: bytes) -> None:
        # The chunk reaches the disk before the record that vouches for it.
        self._write_at(f"{STAGING}.snap", offset, data)
        record = encode_staged(offset, data)
        log_path = self.path / f"{STAGING}.log"
        fd = os.open(log_path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, record)
            self._flush(fd)
        finally:
            os.close(fd)

    def _write_at(self, name: str, offset: int, data: bytes) -> None:
        fd = os.open(self.path / name, os.O_WRONLY)
        try:
            view = memoryview(data)
            while view:
                written = os.pwrite(fd, view, offset)
                view = view[written:]
                offset += written
            self._flush(fd)
        finally:
            os.close(fd)

    def _write_file(self, name: str, data: bytes) -> None:
        """Replace ``name`` with ``data`` atomically and durably."""
        tmp = self.path / f"{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data)
            self._flush(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path / name)
        self._sync_dir()

    def _flush(self, fd: int) -> None:
        if self.sync:
            os.fdatasync(fd)

    def _sync_dir(self) -> None:
        if not self.sync:
            return
        fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _remove(self, *names: str) -> None:
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                (self.path / name).unlink()

    def _remove_complete(self, meta: SnapshotMeta) -> None:
        name = _name(meta)
        # The meta record goes first: a crash in between leaves bytes without
        # metadata, which the next open removes, never metadata without bytes.
        self._remove(f"{name}.meta")
        self._remove(f"{name}.snap")
        self._complete.pop(name, None)

    # -- recovery ------------------------------------------------------

    def _recover(self) -> None:
        for leftover in self.path.glob("*.tmp"):
            leftover.unlink()
        for meta_path in sorted(self.path.glob("*.meta")):
            if meta_path.name == f"{STAGING}.meta":
                continue
            self._recover_complete(meta_path)
        self._finish_cut_install()
        for data_path in self.path.glob("*.snap"):
            stem = data_path.name[: -len(".snap")]
            if stem != STAGING and stem not in self._complete:
                log.warning(
                    "%s: removing %s (no metadata: its write was cut short)",
                    self.path,
                    data_path.name,
                )
                data_path.unlink()
        self._recover_staging()
        self._sync_dir()

    def _recover_complete(self, meta_path: Path) -> None:
        meta = decode_meta(meta_path.read_bytes(), str(meta_path))
        data_path = meta_path.with_suffix(".snap")
        if meta_path.stem != _name(meta):
            raise StorageCorruption(f"{meta_path} holds the metadata of snapshot {_name(meta)}")
        try:
            size = data_path.stat().st_size
        except FileNotFoundError:
            raise StorageCorruption(f"{meta_path}: its snapshot file is missing") from None
        if size != meta.size:
            raise StorageCorruption(f"{data_path}: {size} bytes, its metadata says {meta.size}")
        self._complete[meta_path.stem] = meta

    def _finish_cut_install(self) -> None:
        """An install renames the verified staging file into place before it
        writes the meta record: if it was cut in between, finish it."""
        meta_path = self.path / f"{STAGING}.meta"
        if (self.path / f"{STAGING}.snap").exists() or not meta_path.exists():
            return
        try:
            meta = decode_meta(meta_path.read_bytes(), str(meta_path))
        except StorageCorruption:
            return
        data_path = self.path / f"{_name(meta)}.snap"
        if _name(meta) in self._complete or not data_path.exists():
            return
        if data_path.stat().st_size != meta.size:
            return
        self._write_file(f"{_name(meta)}.meta", encode_meta(meta))
        self._complete[_name(meta)] = meta
        self._remove(f"{STAGING}.log", f"{STAGING}.meta")
        log.info("%s: finished the install of snapshot %s cut short", self.path, _name(meta))

    def _recover_staging(self) -> None:
        """Find how much of the staged snapshot is durable: the contiguous
        prefix of intact chunk records whose last chunk's bytes check out."""
        meta_path = self.path / f"{STAGING}.meta"
        try:
            meta = decode_meta(meta_path.read_bytes(), str(meta_path))
        except (FileNotFoundError, StorageCorruption):
            self._remove(f"{STAGING}.meta", f"{STAGING}.log", f"{STAGING}.snap")
            return
        data_path = self.path / f"{STAGING}.snap"
        log_path = self.path / f"{STAGING}.log"
        if not data_path.exists() or not log_path.exists():
            self._remove(f"{STAGING}.meta", f"{STAGING}.log", f"{STAGING}.snap")
            return
        end, records = self._staged_prefix(log_path.read_bytes(), data_path)
        with open(log_path, "r+b") as file:
            file.truncate(records * STAGED_RECORD_BYTES)
            self._flush(file.fileno())
        with open(data_path, "r+b") as file:
            file.truncate(end)
            self._flush(file.fileno())
        self._staged = (meta, end)
        log.info("%s: resuming staging of snapshot %s at byte %d", self.path, _name(meta), end)

    def _staged_prefix(self, raw: bytes, data_path: Path) -> tuple[int, int]:
        """``(end, records)``: the durable end of the staged bytes and the
        number of records that vouch for it."""
        chunks: list[tuple[int, int, int]] = []
        end = 0
        for start in range(0, len(raw) - STAGED_RECORD_BYTES + 1, STAGED_RECORD_BYTES):
            record = decode_staged(raw[start : start + STAGED_RECORD_BYTES])
            if record is None or record[0] != end:
                break
            chunks.append(record)
            end += record[1]
        # Torn tail: the last chunk's bytes may not all have reached the disk.
        with open(data_path, "rb") as file:
            while chunks:
                offset, length, chunk_crc = chunks[-1]
                file.seek(offset)
                if zlib.crc32(file.read(length)) == chunk_crc:
                    break
                chunks.pop()
                end = offset
        return end, len(chunks)
