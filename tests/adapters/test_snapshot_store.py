"""``FileSnapshotStore``: chunked local snapshots, durable staging of received
chunks, verify-then-install, resume after a restart, and recovery from torn
or damaged files."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from pyconsensus.adapters.lmdb.snapshots import FileSnapshotStore
from pyconsensus.core.errors import (
    CorruptSnapshot,
    SnapshotRejected,
    StorageCorruption,
    StorageError,
)
from pyconsensus.core.membership import Membership
from pyconsensus.core.snapshots import SnapshotMeta, checksum, chunks

CHUNK = 1000


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def meta_of(data: bytes, index: int = 10, term: int = 2) -> SnapshotMeta:
    return SnapshotMeta(index, term, None, len(data), checksum(data))


def read_all(store: FileSnapshotStore, meta: SnapshotMeta) -> bytes:
    with store.open(meta) as reader:
        return b"".join(chunk.data for chunk in chunks(reader, CHUNK))


def stage_all(store: FileSnapshotStore, meta: SnapshotMeta, data: bytes, upto: int) -> None:
    for offset in range(0, upto, CHUNK):
        store.stage(meta, offset, data[offset : min(offset + CHUNK, upto)])


def test_a_local_snapshot_written_in_pieces_reads_back_in_chunks_after_reopening(
    tmp_path: Path,
) -> None:
    data = payload(10_500)
    members = Membership.decode("voters=1,2,3;outgoing=;learners=4;learners_next=;auto_leave=0")
    store = FileSnapshotStore(tmp_path)
    writer = store.create(7, 3, members)
    for offset in range(0, len(data), 4096):
        writer.write(data[offset : offset + 4096])
    meta = writer.finish()
    assert meta == SnapshotMeta(7, 3, members, len(data), checksum(data))
    assert store.newest() == meta
    reopened = FileSnapshotStore(tmp_path)
    assert reopened.newest() == meta
    assert read_all(reopened, meta) == data
    reopened.verify(meta)


def test_an_aborted_or_unfinished_local_snapshot_leaves_nothing_behind(tmp_path: Path) -> None:
    store = FileSnapshotStore(tmp_path)
    aborted = store.create(1, 1, None)
    aborted.write(b"abc")
    aborted.abort()
    unfinished = store.create(2, 1, None)
    unfinished.write(b"abc")  # the process dies here: never finished
    assert FileSnapshotStore(tmp_path).newest() is None
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_the_newest_snapshot_is_latest_and_retain_removes_the_older_ones(tmp_path: Path) -> None:
    store = FileSnapshotStore(tmp_path)
    metas = []
    for index in (5, 9, 7):
        writer = store.create(index, 1, None)
        writer.write(payload(100, index))
        metas.append(writer.finish())
    assert store.newest() == metas[1]
    assert store.latest() is None  # complete, but no write made one current
    with store.open(metas[0]) as reader:  # an open reader survives the removal
        assert store.retain(metas[1]) == 2
        assert reader.read(0, 100) == payload(100, 5)
    assert FileSnapshotStore(tmp_path).snapshots() == [metas[1]]


def test_staged_chunks_survive_a_restart_and_the_transfer_resumes_where_it_stopped(
    tmp_path: Path,
) -> None:
    data = payload(5 * CHUNK + 17)
    meta = meta_of(data)
    store = FileSnapshotStore(tmp_path)
    stage_all(store, meta, data, 3 * CHUNK)
    assert store.staged() == (meta, 3 * CHUNK)
    resumed = FileSnapshotStore(tmp_path)
    assert resumed.staged() == (meta, 3 * CHUNK)
    for offset in range(3 * CHUNK, len(data), CHUNK):
        resumed.stage(meta, offset, data[offset : offset + CHUNK])
    assert resumed.newest() is None  # staged is not installed
    resumed.install(meta)
    resumed.install(meta)  # already complete: nothing to do
    assert resumed.staged() is None
    assert resumed.newest() == meta
    assert read_all(FileSnapshotStore(tmp_path), meta) == data


def test_a_duplicate_chunk_changes_nothing_and_an_overlapping_one_adds_only_its_tail(
    tmp_path: Path,
) -> None:
    data = payload(3 * CHUNK)
    meta = meta_of(data)
    store = FileSnapshotStore(tmp_path)
    assert store.stage(meta, 0, data[:CHUNK]) == CHUNK
    assert store.stage(meta, 0, data[:CHUNK]) == CHUNK
    assert store.stage(meta, 500, data[500 : 2 * CHUNK]) == 2 * CHUNK
    assert store.stage(meta, 2 * CHUNK, data[2 * CHUNK :]) == len(data)
    assert store.counters["chunks.duplicate"] == 1
    store.install(meta)
    assert read_all(store, meta) == data


@pytest.mark.parametrize(
    ("offset", "size", "reason"),
    [(2 * CHUNK, CHUNK, "gap"), (CHUNK, 3 * CHUNK, "past the snapshot")],
)
def test_a_chunk_after_a_gap_or_past_the_announced_size_is_rejected(
    tmp_path: Path, offset: int, size: int, reason: str
) -> None:
    data = payload(3 * CHUNK)
    meta = meta_of(data)
    store = FileSnapshotStore(tmp_path)
    store.stage(meta, 0, data[:CHUNK])
    with pytest.raises(StorageError, match=reason):
        store.stage(meta, offset, payload(size))
    assert store.staged() == (meta, CHUNK)


def test_installing_a_partly_staged_or_unknown_snapshot_is_rejected(tmp_path: Path) -> None:
    data = payload(3 * CHUNK)
    meta = meta_of(data)
    store = FileSnapshotStore(tmp_path)
    stage_all(store, meta, data, 2 * CHUNK)
    with pytest.raises(SnapshotRejected, match="not the snapshot being staged"):
        store.install(meta_of(data, index=11))
    assert store.staged() == (meta, 2 * CHUNK)
    with pytest.raises(CorruptSnapshot, match="staged up to 2000 of 3000"):
        store.install(meta)
    assert store.newest() is None and store.staged() is None


def test_a_snapshot_whose_bytes_fail_the_checksum_is_never_installed(tmp_path: Path) -> None:
    data = payload(3 * CHUNK)
    lying = SnapshotMeta(10, 2, None, len(data), checksum(b"something else"))
    store = FileSnapshotStore(tmp_path)
    stage_all(store, lying, data, len(data))
    with pytest.raises(CorruptSnapshot):
        store.install(lying)
    assert store.newest() is None
    assert store.staged() is None  # discarded: the transfer starts again
    assert FileSnapshotStore(tmp_path).staged() is None


def test_bytes_damaged_on_disk_while_staged_are_caught_at_install(tmp_path: Path) -> None:
    data = payload(3 * CHUNK)
    meta = meta_of(data)
    store = FileSnapshotStore(tmp_path)
    stage_all(store, meta, data, len(data))
    with open(tmp_path / "staging.snap", "r+b") as file:
        file.seek(1234)
        file.write(bytes([data[1234] ^ 0xFF]))
    with pytest.raises(CorruptSnapshot):
        store.install(meta)
    assert store.newest() is None


def test_a_chunk_of_another_snapshot_from_offset_zero_supersedes_the_staging_area(
    tmp_path: Path,
) -> None:
    old, new = payload(2 * CHUNK, 1), payload(2 * CHUNK, 2)
    old_meta, new_meta = meta_of(old, index=10), meta_of(new, index=20)
    store = FileSnapshotStore(tmp_path)
    store.stage(old_meta, 0, old[:CHUNK])
    with pytest.raises(StorageError, match="not being staged"):
        store.stage(new_meta, CHUNK, new[CHUNK:])
    store.stage(new_meta, 0, new[:CHUNK])
    assert store.staged() == (new_meta, CHUNK)
    assert store.counters["staging.discarded"] == 1
    store.stage(new_meta, CHUNK, new[CHUNK:])
    store.install(new_meta)
    assert read_all(store, new_meta) == new


def test_a_torn_last_chunk_is_dropped_on_restart_and_staged_again(tmp_path: Path) -> None:
    data = payload(4 * CHUNK)
    meta = meta_of(data)
    store = FileSnapshotStore(tmp_path)
    stage_all(store, meta, data, 3 * CHUNK)
    # The disk kept the record but only half of the last chunk's bytes (and
    # garbage after them): the record must not be believed.
    with open(tmp_path / "staging.snap", "r+b") as file:
        file.seek(2 * CHUNK + CHUNK // 2)
        file.write(b"\0" * CHUNK)
    resumed = FileSnapshotStore(tmp_path)
    assert resumed.staged() == (meta, 2 * CHUNK)
    stage_all(resumed, meta, data, len(data))
    resumed.install(meta)
    assert read_all(resumed, meta) == data


def test_a_torn_chunk_record_is_ignored_on_restart(tmp_path: Path) -> None:
    data = payload(3 * CHUNK)
    meta = meta_of(data)
    store = FileSnapshotStore(tmp_path)
    stage_all(store, meta, data, 2 * CHUNK)
    with open(tmp_path / "staging.log", "ab") as file:
        file.write(b"\x00\x00\x00\x00\x00\x00\x07")  # half a record
    with open(tmp_path / "staging.snap", "ab") as file:
        file.write(data[2 * CHUNK : 2 * CHUNK + 300])  # bytes no record vouches for
    resumed = FileSnapshotStore(tmp_path)
    assert resumed.staged() == (meta, 2 * CHUNK)
    assert (tmp_path / "staging.snap").stat().st_size == 2 * CHUNK


def test_damaged_metadata_of_a_complete_snapshot_is_a_storage_corruption(tmp_path: Path) -> None:
    store = FileSnapshotStore(tmp_path)
    writer = store.create(3, 1, None)
    writer.write(b"state")
    meta = writer.finish()
    meta_path = next(tmp_path.glob("*.meta"))
    raw = bytearray(meta_path.read_bytes())
    raw[3] ^= 0x01
    meta_path.write_bytes(bytes(raw))
    with pytest.raises(StorageCorruption, match="checksum mismatch"):
        FileSnapshotStore(tmp_path)
    meta_path.write_bytes(bytes(raw[:3]))
    with pytest.raises(StorageCorruption):
        FileSnapshotStore(tmp_path)
    del meta


def test_a_snapshot_file_shorter_than_its_metadata_is_a_storage_corruption(
    tmp_path: Path,
) -> None:
    store = FileSnapshotStore(tmp_path)
    writer = store.create(3, 1, None)
    writer.write(b"state")
    writer.finish()
    os.truncate(next(tmp_path.glob("*.snap")), 2)
    with pytest.raises(StorageCorruption, match="2 bytes, its metadata says 5"):
        FileSnapshotStore(tmp_path)


def test_snapshot_bytes_without_metadata_are_removed_on_open(tmp_path: Path) -> None:
    (tmp_path / f"{3:020d}-{1:020d}.snap").write_bytes(b"cut short before its meta")
    store = FileSnapshotStore(tmp_path)
    assert store.newest() is None
    assert list(tmp_path.iterdir()) == []


def test_an_install_cut_between_its_rename_and_its_metadata_is_finished_on_open(
    tmp_path: Path,
) -> None:
    data = payload(2 * CHUNK)
    meta = meta_of(data)
    store = FileSnapshotStore(tmp_path)
    stage_all(store, meta, data, len(data))
    # What install leaves if the process dies right after its rename: the
    # bytes were verified before they were renamed, so the install stands.
    os.replace(tmp_path / "staging.snap", tmp_path / f"{10:020d}-{2:020d}.snap")
    reopened = FileSnapshotStore(tmp_path)
    assert reopened.newest() == meta
    assert reopened.staged() is None
    assert read_all(reopened, meta) == data


def test_making_a_snapshot_current_drops_older_ones_and_a_staging_area_it_supersedes(
    tmp_path: Path,
) -> None:
    store = FileSnapshotStore(tmp_path)
    old = store.create(5, 1, None)
    old.write(b"old")
    old_meta = old.finish()
    new = store.create(9, 1, None)
    new.write(b"new")
    new_meta = new.finish()
    data = payload(CHUNK)
    store.stage(meta_of(data, index=8), 0, data[:10])
    store.make_current(new_meta)
    assert store.latest() == new_meta
    assert store.snapshots() == [new_meta] and store.staged() is None
    with pytest.raises(SnapshotRejected):
        store.open(old_meta)
