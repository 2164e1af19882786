"""MemoryStorage: the Write semantics every backend shares, and crash behaviour."""

from __future__ import annotations

import pytest

from pyconsensus.core.errors import StorageError
from pyconsensus.core.ready import Write
from pyconsensus.core.snapshots import SnapshotMeta, SnapshotStage, checksum, write_snapshot
from pyconsensus.core.storage import DEFAULT_INCARNATION, MemoryStorage
from pyconsensus.core.types import Entry


def entries(*indices: int, term: int = 1) -> list[Entry]:
    return [Entry(i, term, b"%d" % i) for i in indices]


def test_an_empty_storage() -> None:
    storage = MemoryStorage()
    assert (storage.first_index(), storage.last_index()) == (1, 0)
    assert storage.entries(0, 100) == []
    assert storage.snapshot() is None
    assert storage.metadata() == {}


def test_entries_are_put_by_index_and_read_by_range() -> None:
    storage = MemoryStorage()
    storage.write(Write(entries=entries(1, 2, 3)))
    assert [e.index for e in storage.entries(2, 10)] == [2, 3]
    storage.write(Write(entries=[Entry(2, 5, b"new")]))
    assert storage.entries(2, 3) == [Entry(2, 5, b"new")]


def test_holes_are_allowed_and_skipped() -> None:
    storage = MemoryStorage()
    storage.write(Write(entries=entries(3, 7)))
    assert (storage.first_index(), storage.last_index()) == (3, 7)
    assert [e.index for e in storage.entries(1, 10)] == [3, 7]


def test_truncation_removes_the_suffix_before_new_entries_are_put() -> None:
    storage = MemoryStorage()
    storage.write(Write(entries=entries(1, 2, 3, 4)))
    storage.write(Write(truncate_from=3, entries=[Entry(3, 2)]))
    assert [(e.index, e.term) for e in storage.entries(1, 10)] == [(1, 1), (2, 1), (3, 2)]
    assert storage.last_index() == 3


def test_a_snapshot_drops_the_entries_it_covers() -> None:
    storage = MemoryStorage()
    storage.write(Write(entries=entries(1, 2, 3, 4)))
    storage.write(Write(snapshot=write_snapshot(storage.snapshots, 2, 1, b"s")))
    assert (storage.first_index(), storage.last_index()) == (3, 4)
    storage.write(Write(snapshot=write_snapshot(storage.snapshots, 9, 3, b"t"), truncate_from=10))
    assert (storage.first_index(), storage.last_index()) == (10, 9)
    assert storage.entries(0, 100) == []


def test_entries_at_or_below_the_snapshot_are_refused() -> None:
    storage = MemoryStorage()
    storage.write(Write(snapshot=write_snapshot(storage.snapshots, 5, 1, b"")))
    with pytest.raises(StorageError, match="at or below the snapshot"):
        storage.write(Write(entries=entries(5)))


def test_metadata_keys_merge() -> None:
    storage = MemoryStorage()
    storage.write(Write(metadata={"a": 1, "b": b"x"}))
    storage.write(Write(metadata={"b": None}))
    assert storage.metadata() == {"a": 1, "b": None}


def test_a_crash_loses_staged_writes_and_keeps_synced_ones() -> None:
    storage = MemoryStorage()
    storage.write(Write(metadata={"term": 1}, entries=entries(1)))
    storage.stage(Write(metadata={"term": 2}, entries=entries(2)))
    assert storage.last_index() == 2  # visible before the sync, like a page cache
    storage.crash()
    assert (storage.metadata(), storage.last_index()) == ({"term": 1}, 1)
    storage.stage(Write(entries=entries(2)))
    storage.sync()
    storage.crash()
    assert storage.last_index() == 2
    assert (storage.writes, storage.syncs) == (3, 2)


def test_staged_writes_become_durable_oldest_first() -> None:
    storage = MemoryStorage()
    first, second = Write(entries=[Entry(1, 1)]), Write(entries=[Entry(2, 1)])
    storage.stage(first)
    storage.stage(second)
    assert storage.last_index() == 2 and storage.durable().last_index() == 0
    assert storage.is_staged(first) and storage.is_staged(second)
    storage.sync(1)
    assert not storage.is_staged(first) and storage.is_staged(second)
    assert storage.durable().last_index() == 1 and storage.has_staged()
    storage.crash()
    assert storage.last_index() == 1 and not storage.has_staged()


def test_writes_after_a_sync_keep_visible_and_durable_states_equal() -> None:
    storage = MemoryStorage()
    storage.stage(Write(entries=[Entry(1, 1)]))
    storage.sync()
    storage.write(Write(entries=[Entry(2, 1)], metadata={"k": 1}))
    storage.crash()
    assert storage.last_index() == 2 and storage.metadata() == {"k": 1}


def test_a_memory_storage_has_the_incarnation_its_creator_gave() -> None:
    storage = MemoryStorage(incarnation="node-3-life-2")
    assert storage.incarnation == "node-3-life-2"
    storage.stage(Write(metadata={"k": 1}))
    storage.crash()
    assert storage.incarnation == "node-3-life-2"
    assert storage.durable().incarnation == "node-3-life-2"
    assert MemoryStorage().incarnation == DEFAULT_INCARNATION


def test_an_empty_incarnation_is_refused() -> None:
    with pytest.raises(StorageError):
        MemoryStorage(incarnation="")


def test_a_snapshot_not_complete_in_the_store_cannot_become_current() -> None:
    storage = MemoryStorage()
    with pytest.raises(StorageError, match="not complete in the store"):
        storage.write(Write(snapshot=SnapshotMeta(3, 1, None, 0, checksum(b""))))
    assert storage.snapshot() is None


def test_staged_snapshot_bytes_are_lost_with_an_unsynced_write() -> None:
    storage = MemoryStorage()
    meta = SnapshotMeta(3, 1, None, 4, checksum(b"abcd"))
    storage.write(Write(stage=SnapshotStage(meta, 0, b"ab")))
    storage.stage(Write(stage=SnapshotStage(meta, 2, b"cd")))
    assert storage.snapshots.staged() == (meta, 4)
    storage.crash()
    assert storage.snapshots.staged() == (meta, 2)
