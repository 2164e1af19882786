"""``LmdbStorage`` with chunked snapshots: ``Write.stage`` reaches the file
store durably with the write, ``Write.snapshot`` (a ``SnapshotMeta``) makes a
complete snapshot current in the same transaction that compacts the log, and
all of it survives a reopen."""

from __future__ import annotations

import random
from pathlib import Path

import lmdb
import pytest

from pyconsensus.adapters.lmdb import LmdbStorage, records
from pyconsensus.core.errors import StorageCorruption, StorageError
from pyconsensus.core.ready import Write
from pyconsensus.core.snapshots import SnapshotMeta, SnapshotStage, checksum
from pyconsensus.core.types import Entry, Snapshot

DATA = random.Random(3).randbytes(5000)
META = SnapshotMeta(4, 2, None, len(DATA), checksum(DATA))


def open_storage(path: Path) -> LmdbStorage:
    return LmdbStorage(path, cluster_id="snap", node_id=1)


def entries(lo: int, hi: int) -> list[Entry]:
    return [Entry(i, 2, b"e%d" % i) for i in range(lo, hi)]


def record(meta: SnapshotMeta) -> Write:
    return Write(snapshot=meta)


def test_staged_chunks_are_durable_with_their_write_and_resume_after_a_reopen(
    tmp_path: Path,
) -> None:
    with open_storage(tmp_path) as storage:
        storage.write(Write(metadata={"term": 2}, stage=SnapshotStage(META, 0, DATA[:2000])))
        storage.write(Write(stage=SnapshotStage(META, 2000, DATA[2000:3000])))
    with open_storage(tmp_path) as storage:
        assert storage.snapshots.staged() == (META, 3000)
        assert storage.metadata() == {"term": 2}
        storage.write(Write(stage=SnapshotStage(META, 3000, DATA[3000:])))
        storage.snapshots.install(META)
        assert storage.snapshots.latest() is None  # installed, not yet current


def test_a_write_of_the_metadata_makes_the_snapshot_current_and_compacts_the_log(
    tmp_path: Path,
) -> None:
    with open_storage(tmp_path) as storage:
        storage.write(Write(entries=entries(1, 8)))
        writer = storage.snapshots.create(4, 2, None)
        writer.write(DATA)
        meta = writer.finish()
        assert meta == META
        storage.write(record(meta))
        assert storage.snapshots.latest() == meta
        assert storage.first_index() == 5
    with open_storage(tmp_path) as storage:
        assert storage.snapshots.latest() == meta
        assert [e.index for e in storage.entries(0, 100)] == [5, 6, 7]
        with storage.snapshots.open(meta) as reader:
            assert reader.read(0, 10_000) == DATA


def test_a_snapshot_not_complete_in_the_store_cannot_be_made_current(tmp_path: Path) -> None:
    with open_storage(tmp_path) as storage:
        storage.write(Write(entries=entries(1, 8)))
        with pytest.raises(StorageError, match="not complete"):
            storage.write(record(META))
        assert storage.first_index() == 1 and storage.snapshots.latest() is None
        assert storage.failure is None  # refused up front: the storage goes on


def test_a_stage_with_a_gap_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with open_storage(tmp_path) as storage:
        with pytest.raises(StorageError, match="not being staged"):
            storage.write(Write(entries=entries(1, 3), stage=SnapshotStage(META, 100, b"x")))
        assert storage.last_index() == 0 and storage.snapshots.staged() is None


def test_a_newer_current_snapshot_drops_older_files_and_the_staging_it_supersedes(
    tmp_path: Path,
) -> None:
    with open_storage(tmp_path) as storage:
        storage.write(Write(stage=SnapshotStage(META, 0, DATA[:100])))
        writer = storage.snapshots.create(9, 3, None)
        writer.write(b"newer state")
        newer = writer.finish()
        storage.write(record(newer))
        assert storage.snapshots.staged() is None
        assert storage.snapshots.snapshots() == [newer]


def test_a_missing_current_snapshot_file_is_a_storage_corruption(tmp_path: Path) -> None:
    with open_storage(tmp_path) as storage:
        writer = storage.snapshots.create(4, 2, None)
        writer.write(DATA)
        storage.write(record(writer.finish()))
    for path in (tmp_path / "snapshots").glob("*.snap"):
        path.unlink()
    with pytest.raises(StorageCorruption, match="snapshot file is missing"):
        open_storage(tmp_path)


def test_a_current_snapshot_whose_files_are_gone_entirely_is_a_storage_corruption(
    tmp_path: Path,
) -> None:
    with open_storage(tmp_path) as storage:
        writer = storage.snapshots.create(4, 2, None)
        writer.write(DATA)
        storage.write(record(writer.finish()))
    for path in (tmp_path / "snapshots").iterdir():
        path.unlink()
    with pytest.raises(StorageCorruption, match="current snapshot"):
        open_storage(tmp_path)


def test_a_snapshot_stored_whole_by_an_older_version_moves_into_a_file_on_open(
    tmp_path: Path,
) -> None:
    open_storage(tmp_path).close()
    env = lmdb.open(str(tmp_path), max_dbs=4, map_size=1 << 30)
    with env.begin(write=True) as txn:
        txn.put(
            b"snapshot",
            records.encode_snapshot(Snapshot(4, 2, DATA)),
            db=env.open_db(b"snapshot", txn=txn),
        )
    env.close()
    with open_storage(tmp_path) as storage:
        assert storage.snapshot() == META
        with storage.snapshots.open(META) as reader:
            assert reader.read(0, 10_000) == DATA
    with open_storage(tmp_path) as storage:
        assert storage.snapshot() == META
