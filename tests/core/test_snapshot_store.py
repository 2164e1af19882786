"""MemorySnapshotStore: complete snapshots are durable at once, staging and the
current snapshot only once synced; install verifies size and checksum."""

from __future__ import annotations

import pytest

from pyconsensus.core.errors import CorruptSnapshot, SnapshotRejected, StorageError
from pyconsensus.core.snapshot_store import MemorySnapshotStore
from pyconsensus.core.snapshots import SnapshotMeta, SnapshotStage, checksum

DATA = b"0123456789" * 5


def meta_of(data: bytes, index: int = 7, term: int = 2) -> SnapshotMeta:
    return SnapshotMeta(index, term, None, len(data), checksum(data))


def stage_all(store: MemorySnapshotStore, meta: SnapshotMeta, data: bytes, size: int) -> None:
    for offset in range(0, len(data), size):
        store.apply([SnapshotStage(meta, offset, data[offset : offset + size])])
    store.sync()


def test_a_finished_snapshot_is_readable_and_becomes_current_only_when_recorded() -> None:
    store = MemorySnapshotStore()
    writer = store.create(7, 2, None)
    writer.write(DATA[:20])
    writer.write(DATA[20:])
    meta = writer.finish()
    assert meta == meta_of(DATA)
    assert store.open(meta).read(0, 100) == DATA
    assert store.latest() is None
    store.apply([meta])
    assert store.latest() == meta
    store.crash()
    assert store.latest() is None  # recording it was never synced
    store.apply([meta])
    store.sync()
    store.crash()
    assert store.latest() == meta


def test_an_aborted_snapshot_leaves_nothing() -> None:
    store = MemorySnapshotStore()
    writer = store.create(7, 2, None)
    writer.write(DATA)
    writer.abort()
    with pytest.raises(StorageError):
        writer.finish()
    with pytest.raises(SnapshotRejected):
        store.open(meta_of(DATA))


def test_staged_bytes_survive_a_crash_only_when_synced() -> None:
    store = MemorySnapshotStore()
    meta = meta_of(DATA)
    store.apply([SnapshotStage(meta, 0, DATA[:10])])
    store.sync()
    store.apply([SnapshotStage(meta, 10, DATA[10:30])])
    assert store.staged() == (meta, 30)
    store.crash()
    assert store.staged() == (meta, 10)


def test_a_stage_that_leaves_a_gap_is_refused_and_changes_nothing() -> None:
    store = MemorySnapshotStore()
    meta = meta_of(DATA)
    store.apply([SnapshotStage(meta, 0, DATA[:10])])
    with pytest.raises(StorageError):
        store.apply([SnapshotStage(meta, 20, DATA[20:30])])
    assert store.staged() == (meta, 10)


def test_a_new_snapshot_at_offset_zero_supersedes_the_staged_one() -> None:
    store = MemorySnapshotStore()
    old, new = meta_of(DATA, index=5), meta_of(DATA[:10], index=9)
    store.apply([SnapshotStage(old, 0, DATA[:10])])
    store.apply([SnapshotStage(new, 0, DATA[:10])])
    store.sync()
    assert store.staged() == (new, 10)


def test_install_keeps_a_complete_verified_snapshot() -> None:
    store = MemorySnapshotStore()
    meta = meta_of(DATA)
    stage_all(store, meta, DATA, 16)
    store.install(meta)
    assert store.staged() is None
    assert store.open(meta).read(0, 1000) == DATA
    store.install(meta)  # again: nothing to do
    assert store.installed == 1


def test_install_refuses_a_partial_snapshot() -> None:
    store = MemorySnapshotStore()
    meta = meta_of(DATA)
    stage_all(store, meta, DATA[:30], 16)
    with pytest.raises(CorruptSnapshot):
        store.install(meta)
    with pytest.raises(SnapshotRejected):
        store.open(meta)
    assert store.staged() is None and store.rejected == 1


def test_install_refuses_bytes_whose_checksum_differs() -> None:
    store = MemorySnapshotStore()
    meta = meta_of(DATA)
    stage_all(store, meta, DATA[:-1] + b"X", 16)
    with pytest.raises(CorruptSnapshot, match="checksum"):
        store.install(meta)
    with pytest.raises(SnapshotRejected):
        store.open(meta)


def test_install_refuses_a_snapshot_that_is_not_staged() -> None:
    store = MemorySnapshotStore()
    with pytest.raises(SnapshotRejected):
        store.install(meta_of(DATA))


def test_recording_a_newer_snapshot_forgets_older_ones_and_stale_staging() -> None:
    store = MemorySnapshotStore()
    first = store.create(3, 1, None)
    first.write(b"old")
    old = first.finish()
    store.apply([old])
    store.apply([SnapshotStage(meta_of(DATA, index=5), 0, DATA[:4])])
    second = store.create(8, 2, None)
    second.write(b"new")
    new = second.finish()
    store.apply([new])
    store.sync()
    assert store.latest() == new and store.staged() is None
    with pytest.raises(SnapshotRejected):
        store.open(old)
