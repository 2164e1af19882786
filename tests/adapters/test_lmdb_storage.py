"""LmdbStorage beyond the conformance suite: integrity, identity, durability mode,
failures. Damage is done with raw LMDB, behind the storage's back."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import lmdb
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyconsensus.adapters.lmdb import (
    FORMAT_VERSION,
    DurabilityWarning,
    LmdbStorage,
    StorageFull,
    records,
)
from pyconsensus.core.errors import (
    CorruptSnapshot,
    StorageCorruption,
    StorageError,
    StorageMismatch,
)
from pyconsensus.core.ready import Write
from pyconsensus.core.snapshots import (
    SnapshotMeta,
    SnapshotStage,
    checksum,
    read_all,
    write_snapshot,
)
from pyconsensus.core.types import Entry, EntryKind, MetaValue

ROOT = Path(__file__).resolve().parents[2]


def entries(lo: int, hi: int, term: int = 1) -> list[Entry]:
    return [Entry(i, term, f"entry {i}".encode()) for i in range(lo, hi)]


def make(path: Path, **options: Any) -> LmdbStorage:
    options.setdefault("cluster_id", "alpha")
    options.setdefault("node_id", 1)
    return LmdbStorage(path, **options)


@pytest.fixture
def filled(tmp_path: Path) -> Path:
    """A closed storage of 2000 entries after a snapshot at 100, with metadata."""
    path = tmp_path / "node"
    with make(path) as storage:
        storage.write(Write(metadata={"raft.term": 3, "raft.vote": 2}, entries=entries(1, 2001)))
        storage.write(Write(snapshot=write_snapshot(storage.snapshots, 100, 1, b"state")))
    return path


@pytest.fixture
def raw() -> Iterator[Callable[[Path], Any]]:
    """Opens a storage directory with plain LMDB, for tampering."""
    opened: list[Any] = []

    def open_raw(path: Path) -> Any:
        env = lmdb.open(str(path), max_dbs=4, map_size=1 << 30)
        opened.append(env)
        return env

    yield open_raw
    for env in opened:
        env.close()


def tamper(
    open_raw: Callable[[Path], Any], path: Path, db: bytes, action: Callable[..., None]
) -> None:
    env = open_raw(path)
    handle = env.open_db(db)
    with env.begin(write=True, db=handle) as txn:
        action(txn)
    env.close()


def flip_byte(value: bytes, at: int) -> bytes:
    return value[:at] + bytes([value[at] ^ 0x40]) + value[at + 1 :]


# -- identity and format ---------------------------------------------------------


def test_the_directory_remembers_its_cluster_and_node(filled: Path) -> None:
    with pytest.raises(StorageMismatch, match="node 1 of cluster 'alpha', not to node 2"):
        make(filled, node_id=2)
    with pytest.raises(StorageMismatch, match="not to node 1 of cluster 'beta'"):
        make(filled, cluster_id="beta")
    with make(filled) as storage:  # the right owner still opens it
        assert storage.last_index() == 2000


def test_a_newer_format_version_is_refused_in_one_line_naming_both(filled: Path, raw: Any) -> None:
    newer = FORMAT_VERSION + 1
    tamper(raw, filled, b"meta", lambda txn: txn.put(b"format", str(newer).encode()))
    with pytest.raises(StorageMismatch) as refused:
        make(filled)
    message = str(refused.value)
    assert "\n" not in message
    assert f"format version {newer}" in message
    assert f"reads format {FORMAT_VERSION} and older" in message and "Upgrade" in message


def test_a_new_directory_records_a_random_incarnation_for_its_life(tmp_path: Path) -> None:
    with make(tmp_path / "a") as first, make(tmp_path / "b") as second:
        incarnation = first.incarnation
        assert len(incarnation) == 32 and int(incarnation, 16) >= 0
        assert second.incarnation != incarnation
    with make(tmp_path / "a") as reopened:
        assert reopened.incarnation == incarnation


def test_a_wiped_directory_is_a_new_incarnation(tmp_path: Path) -> None:
    with make(tmp_path / "node") as storage:
        before = storage.incarnation
    shutil.rmtree(tmp_path / "node")
    with make(tmp_path / "node") as storage:
        assert storage.incarnation != before


def test_a_format_1_directory_gets_an_incarnation_when_opened(filled: Path, raw: Any) -> None:
    def downgrade(txn: Any) -> None:
        txn.put(b"format", b"1")
        txn.delete(b"incarnation")

    tamper(raw, filled, b"meta", downgrade)
    with make(filled) as storage:
        incarnation = storage.incarnation
        assert storage.last_index() == 2000  # the data is untouched
    with make(filled) as storage:
        assert storage.incarnation == incarnation
    env = raw(filled)
    with env.begin(db=env.open_db(b"meta")) as txn:
        assert txn.get(b"format") == str(FORMAT_VERSION).encode()


def test_a_missing_incarnation_is_corruption(filled: Path, raw: Any) -> None:
    tamper(raw, filled, b"meta", lambda txn: txn.delete(b"incarnation"))
    with pytest.raises(StorageCorruption, match="incarnation is missing"):
        make(filled)


def test_a_file_that_is_not_lmdb_is_corruption(tmp_path: Path) -> None:
    path = tmp_path / "node"
    path.mkdir()
    (path / "data.mdb").write_bytes(b"definitely not an LMDB file" * 400)
    with pytest.raises(StorageCorruption, match="cannot open"):
        make(path)


def test_lmdb_data_without_a_format_marker_is_refused(tmp_path: Path, raw: Any) -> None:
    path = tmp_path / "other-app"
    path.mkdir()
    env = raw(path)
    log = env.open_db(b"log")
    with env.begin(write=True, db=log) as txn:
        txn.put(b"\x00" * 8, b"someone else's data")
    env.close()
    with pytest.raises(StorageCorruption, match="without a format marker"):
        make(path)


def test_bad_identity_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="cluster_id"):
        make(tmp_path, cluster_id="")
    with pytest.raises(StorageError, match="node_id"):
        make(tmp_path, node_id=-1)
    with pytest.raises(StorageError, match="does not exist"):
        make(tmp_path / "missing", create=False)


# -- integrity ---------------------------------------------------------------------


def test_a_damaged_recent_entry_is_caught_at_open(filled: Path, raw: Any) -> None:
    key = records.index_key(1990)

    def damage(txn: Any) -> None:
        txn.put(key, flip_byte(txn.get(key), 20))

    tamper(raw, filled, b"log", damage)
    with pytest.raises(StorageCorruption, match="entry 1990: checksum mismatch"):
        make(filled)


def test_a_damaged_old_entry_is_never_served(filled: Path, raw: Any) -> None:
    key = records.index_key(150)

    def damage(txn: Any) -> None:
        txn.put(key, flip_byte(txn.get(key), 5))

    tamper(raw, filled, b"log", damage)
    with make(filled, verify_entries=10) as storage:  # the bounded scan misses it...
        assert storage.entries(140, 150) == entries(140, 150)
        with pytest.raises(StorageCorruption, match="entry 150"):  # ...reads do not
            storage.entries(140, 160)
        with pytest.raises(StorageCorruption, match="entry 150"):
            storage.verify()
    with pytest.raises(StorageCorruption, match="entry 150"):  # nor does a full scan
        make(filled, verify_entries=None)


def test_an_entry_under_the_wrong_key_is_caught(filled: Path, raw: Any) -> None:
    def move(txn: Any) -> None:
        txn.put(records.index_key(2000), txn.get(records.index_key(1999)))

    tamper(raw, filled, b"log", move)
    with pytest.raises(StorageCorruption, match="entry 2000: the record says it is entry 1999"):
        make(filled)


@pytest.mark.parametrize("gone", [[1500], list(range(1200, 1300)), [2000], [101]])
def test_a_missing_range_is_caught_at_open(filled: Path, raw: Any, gone: list[int]) -> None:
    def delete(txn: Any) -> None:
        for index in gone:
            assert txn.delete(records.index_key(index))

    tamper(raw, filled, b"log", delete)
    with pytest.raises(StorageCorruption, match="a range of entries is missing"):
        make(filled, verify_entries=0)


def test_damaged_metadata_snapshot_or_bookkeeping_is_caught(filled: Path, raw: Any) -> None:
    for db, key in [(b"hard", b"raft.term"), (b"snapshot", b"current"), (b"meta", b"log")]:
        copy = filled.parent / f"copy-{db.decode()}"
        shutil.copytree(filled, copy)

        def damage(txn: Any, key: bytes = key) -> None:
            txn.put(key, flip_byte(txn.get(key), 1))

        tamper(raw, copy, db, damage)
        with pytest.raises(StorageCorruption, match="checksum mismatch"):
            make(copy)


def test_entries_below_the_snapshot_are_corruption(filled: Path, raw: Any) -> None:
    env = raw(filled)
    log, meta = env.open_db(b"log"), env.open_db(b"meta")
    with env.begin(write=True) as txn:
        txn.put(records.index_key(50), records.encode_entry(Entry(50, 1, b"x")), db=log)
        txn.put(b"log", records.encode_log_state(50, 2000, 1901), db=meta)
    env.close()
    with pytest.raises(StorageCorruption, match="at or below the snapshot index 100"):
        make(filled)


def test_a_full_verify_counts_every_entry(filled: Path) -> None:
    with make(filled, verify_entries=None) as storage:
        assert storage.verify() == 1900


@given(st.binary(max_size=64), st.integers(0, 2**64 - 1), st.data())
def test_any_single_bit_flip_in_an_entry_record_is_detected(
    data: bytes, term: int, draw: st.DataObject
) -> None:
    record = records.encode_entry(Entry(7, term, data, EntryKind.CONFIG))
    assert records.decode_entry(records.index_key(7), record) == Entry(
        7, term, data, EntryKind.CONFIG
    )
    bit = draw.draw(st.integers(0, len(record) * 8 - 1))
    damaged = bytearray(record)
    damaged[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(StorageCorruption):
        records.decode_entry(records.index_key(7), bytes(damaged))


@given(
    st.one_of(
        st.none(), st.integers(-(2**200), 2**200), st.text(max_size=20), st.binary(max_size=20)
    )
)
def test_metadata_values_round_trip_through_records(value: MetaValue) -> None:
    decoded = records.decode_value(records.encode_value(value, "v"), "v")
    assert decoded == value
    assert type(decoded) is type(value)


# -- writing -----------------------------------------------------------------------


def test_one_write_is_one_commit(tmp_path: Path) -> None:
    with make(tmp_path / "node") as storage:
        storage.write(Write(metadata={"t": 1}, entries=entries(1, 300), truncate_from=1))
        storage.write(
            Write(snapshot=write_snapshot(storage.snapshots, 5, 1, b"s"), entries=entries(301, 302))
        )
        storage.write(Write())
        assert storage.commits == 2


def test_values_that_cannot_be_stored_are_refused_before_writing(tmp_path: Path) -> None:
    with make(tmp_path / "node") as storage:
        storage.write(Write(entries=entries(1, 3)))
        for bad in [
            Write(entries=[Entry(3, -1, b"")]),
            Write(entries=[Entry(3, 2**64, b"")]),
            Write(entries=[Entry(3, 1, "text")]),  # type: ignore[arg-type]
            Write(entries=[Entry(2**64, 1, b"")]),
            Write(metadata={"k": 1.5}),  # type: ignore[dict-item]
            Write(metadata={"k": True}),
            Write(metadata={"": 1}),
            Write(truncate_from=1.5),  # type: ignore[arg-type]
            Write(snapshot=SnapshotMeta(-1, 1, None, 0, checksum(b""))),
        ]:
            with pytest.raises(StorageError):
                storage.write(bad)
        assert storage.entries(0, 10) == entries(1, 3)
        assert storage.commits == 1
        assert storage.failure is None  # refusing bad input is not a storage failure


def test_sync_false_warns_loudly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.WARNING),
        pytest.warns(DurabilityWarning, match="power loss can lose acknowledged"),
    ):
        storage = make(tmp_path / "node", sync=False)
    assert "sync=False" in caplog.text
    storage.write(Write(entries=entries(1, 5)))
    storage.close()
    with make(tmp_path / "node") as reopened:
        assert reopened.last_index() == 4


def test_a_directory_has_one_user_at_a_time(tmp_path: Path) -> None:
    first = make(tmp_path / "node")
    with pytest.raises(StorageError, match="in use"):
        make(tmp_path / "node")
    first.close()
    make(tmp_path / "node").close()


def test_a_closed_storage_refuses_use(tmp_path: Path) -> None:
    storage = make(tmp_path / "node")
    storage.close()
    storage.close()  # idempotent
    for use in (storage.metadata, storage.last_index, lambda: storage.write(Write())):
        with pytest.raises(StorageError, match="closed"):
            use()


# -- running out of space ------------------------------------------------------------


def fill_until_refused(storage: LmdbStorage) -> int:
    """Append batches until the storage refuses one; the last acknowledged index."""
    acknowledged = 0
    with pytest.raises(StorageFull):
        while True:
            batch = [Entry(acknowledged + i + 1, 1, bytes([i]) * 1000) for i in range(10)]
            storage.write(Write(entries=batch))
            acknowledged += 10
    return acknowledged


def test_a_full_map_is_a_typed_error_and_the_data_stays_intact(tmp_path: Path) -> None:
    path = tmp_path / "node"
    storage = make(path, map_size=512 * 1024)
    acknowledged = fill_until_refused(storage)
    assert acknowledged > 0
    assert isinstance(storage.failure, StorageFull)
    with pytest.raises(StorageError, match="refusing writes after an earlier failure"):
        storage.write(Write(metadata={"k": 1}))  # even a tiny write
    assert storage.last_index() == acknowledged  # reads still work
    storage.close()
    with make(path, map_size=8 << 20, verify_entries=None) as reopened:
        assert reopened.last_index() == acknowledged
        assert [e.index for e in reopened.entries(0, 10**9)] == list(range(1, acknowledged + 1))
        reopened.write(Write(entries=[Entry(acknowledged + 1, 1, b"room again")]))


DISK_FULL_CHILD = textwrap.dedent(
    """
    import json, resource, signal, sys
    from pyconsensus.adapters.lmdb import LmdbStorage, StorageFull
    from pyconsensus.core.errors import StorageError
    from pyconsensus.core.ready import Write
    from pyconsensus.core.types import Entry

    path, limit_file_size = sys.argv[1], sys.argv[2] == "fsize"
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    if limit_file_size:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG, not death
        resource.setrlimit(resource.RLIMIT_FSIZE, (400_000, hard))
    storage = LmdbStorage(path, cluster_id="c", node_id=1)
    acknowledged, error = 0, None
    try:
        while True:
            batch = [Entry(acknowledged + i + 1, 1, bytes([i]) * 1000) for i in range(10)]
            storage.write(Write(entries=batch))
            acknowledged += 10
    except StorageError as exc:
        error = type(exc).__name__
    try:
        storage.write(Write(metadata={"k": 1}))
        refused = False
    except StorageError:
        refused = True
    storage.close()
    if limit_file_size:
        resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
    reopened = LmdbStorage(path, cluster_id="c", node_id=1, verify_entries=None)
    stored = [e.index for e in reopened.entries(0, 10**9)]
    print(json.dumps({
        "acknowledged": acknowledged, "error": error, "refused": refused,
        "intact": stored == list(range(1, acknowledged + 1)), "verified": reopened.verify(),
    }))
    """
)


def run_child(command: list[str]) -> dict[str, Any]:
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=120, cwd=ROOT, check=False
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def test_a_file_size_limit_is_a_typed_error_and_the_data_stays_intact(tmp_path: Path) -> None:
    report = run_child([sys.executable, "-c", DISK_FULL_CHILD, str(tmp_path / "node"), "fsize"])
    assert report["acknowledged"] > 0
    assert report["error"] in {"StorageError", "StorageFull"}
    assert report["refused"] and report["intact"]
    assert report["verified"] == report["acknowledged"]


def test_a_full_tmpfs_is_storage_full_and_the_data_stays_intact(tmp_path: Path) -> None:
    """A real ENOSPC: a 400 KiB tmpfs mounted in a private user+mount namespace."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    probe = (
        subprocess.run(
            ["unshare", "--user", "--map-root-user", "--mount", "true"],
            capture_output=True,
            check=False,
        )
        if shutil.which("unshare")
        else None
    )
    if probe is None or probe.returncode != 0:
        pytest.skip("unprivileged user namespaces (unshare) are not available here")
    script = (
        f"mount -t tmpfs -o size=400k none {mount} && "
        f'exec {sys.executable} -c "$CHILD" {mount}/node tmpfs'
    )
    result = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={"CHILD": DISK_FULL_CHILD, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        check=False,
    )
    if result.returncode != 0 and "mount" in result.stderr:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["error"] == "StorageFull"
    assert report["acknowledged"] > 0
    assert report["refused"] and report["intact"]


def test_indices_reach_the_largest_u64(tmp_path: Path) -> None:
    top = 2**64 - 1
    with make(tmp_path / "node") as storage:
        storage.write(Write(entries=[Entry(top - 1, 1, b"a"), Entry(top, 1, b"b")]))
        assert [e.index for e in storage.entries(0, 2**65)] == [top - 1, top]
        storage.write(Write(truncate_from=2**70))  # past every key: nothing to cut
        assert storage.last_index() == top
        storage.write(Write(snapshot=write_snapshot(storage.snapshots, top, 1, b"s")))
        assert storage.entries(0, 2**65) == []
        assert (storage.first_index(), storage.last_index()) == (top + 1, top)


# -- snapshots (FileSnapshotStore, issue 15) ----------------------------------------


def test_a_finished_snapshot_becomes_current_with_its_write_and_survives_a_reopen(
    tmp_path: Path,
) -> None:
    with make(tmp_path / "node") as storage:
        storage.write(Write(entries=entries(1, 11)))
        meta = write_snapshot(storage.snapshots, 5, 1, b"state@5")
        assert storage.snapshot() is None  # finished, not current yet
        storage.write(Write(snapshot=meta))
    with make(tmp_path / "node") as storage:
        assert storage.snapshot() == meta
        assert read_all(storage.snapshots.open(meta)) == b"state@5"
        assert storage.first_index() == 6


def test_a_received_snapshot_is_installed_only_when_verified(tmp_path: Path) -> None:
    data = b"received state"
    meta = SnapshotMeta(7, 2, None, len(data), checksum(data))
    with make(tmp_path / "node") as storage:
        storage.write(Write(stage=SnapshotStage(meta, 0, data[:5])))
        with pytest.raises(CorruptSnapshot):
            storage.snapshots.install(meta)  # only 5 of 14 bytes staged
        storage.write(Write(stage=SnapshotStage(meta, 0, data[:5])))
        storage.write(Write(stage=SnapshotStage(meta, 5, data[5:])))
        storage.snapshots.install(meta)
        storage.write(Write(snapshot=meta))
    with make(tmp_path / "node") as storage:
        assert storage.snapshot() == meta
        assert read_all(storage.snapshots.open(meta)) == data
