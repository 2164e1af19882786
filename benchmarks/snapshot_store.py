"""Snapshot bytes as files or as LMDB values: ``python -m benchmarks.snapshot_store
[--mb 1024] [--chunk-kb 1024] [--rounds 3] [--dir PATH] [--json]``.

The question of issue 15: where should a node keep snapshots that may be
larger than memory - in chunks as LMDB values, or as files beside the LMDB
environment? Three operations, each durable as a node needs it, timed in
rounds that alternate the two variants (medians reported, MB/s):

- ``write``: a local snapshot streamed in chunks and made durable once at the
  end (files: ``FileSnapshotStore.create/write/finish``; LMDB: chunk values,
  committed every 16 MiB so that LMDB's dirty pages stay bounded, the last
  commit flushed);
- ``stage``: a received snapshot, every chunk durable before it is
  acknowledged (files: ``FileSnapshotStore.stage``, two ``fdatasync`` per chunk;
  LMDB: one synced transaction per chunk);
- ``read``: the snapshot streamed back in chunks, with the file's pages
  dropped from the page cache first (``POSIX_FADV_DONTNEED``, for both).

Also the raw rate of the disk: sequential 1 MiB writes, one ``fdatasync``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import lmdb

from pyconsensus.adapters.lmdb.snapshots import FileSnapshotStore
from pyconsensus.adapters.trio.snapshot_bench import raw_disk_rate
from pyconsensus.core.snapshots import Checksum, SnapshotMeta

MIB = 1 << 20
LMDB_COMMIT_BYTES = 16 * MIB


def _chunks(mb: int, chunk: int) -> list[bytes]:
    # A handful of distinct random chunks reused: generating 1 GiB of random
    # bytes would cost more than writing it.
    return [os.urandom(chunk) for _ in range(8)]


def files_write(root: Path, mb: int, chunk: int) -> tuple[float, SnapshotMeta]:
    store = FileSnapshotStore(root / "files")
    pieces = _chunks(mb, chunk)
    count = mb * MIB // chunk
    start = time.perf_counter()
    writer = store.create(1, 1, None)
    for i in range(count):
        writer.write(pieces[i % len(pieces)])
    meta = writer.finish()
    return time.perf_counter() - start, meta


def files_read(root: Path, meta: SnapshotMeta, chunk: int) -> float:
    store = FileSnapshotStore(root / "files")
    path = root / "files" / f"{meta.index:020d}-{meta.term:020d}.snap"
    _drop_cache(path)
    start = time.perf_counter()
    with store.open(meta) as reader:
        offset = 0
        while offset < meta.size:
            offset += len(reader.read(offset, chunk))
    return time.perf_counter() - start


def files_stage(root: Path, mb: int, chunk: int) -> float:
    store = FileSnapshotStore(root / "staging")
    pieces = _chunks(mb, chunk)
    count = mb * MIB // chunk
    meta = SnapshotMeta(1, 1, None, count * chunk, "sha256:unchecked")
    start = time.perf_counter()
    for i in range(count):
        store.stage(meta, i * chunk, pieces[i % len(pieces)])
    return time.perf_counter() - start


def _env(path: Path, mb: int) -> lmdb.Environment:
    path.mkdir(parents=True, exist_ok=True)
    return lmdb.open(str(path), map_size=(mb + 64) * MIB * 2, max_dbs=1, readahead=False)


def lmdb_write(root: Path, mb: int, chunk: int) -> float:
    env = _env(root / "lmdb", mb)
    pieces = _chunks(mb, chunk)
    count = mb * MIB // chunk
    per_commit = max(1, LMDB_COMMIT_BYTES // chunk)
    running = Checksum()
    start = time.perf_counter()
    i = 0
    while i < count:
        with env.begin(write=True) as txn:
            for j in range(i, min(count, i + per_commit)):
                piece = pieces[j % len(pieces)]
                running.update(piece)
                txn.put(j.to_bytes(8, "big"), piece)
        i += per_commit
    running.value()
    elapsed = time.perf_counter() - start
    env.close()
    return elapsed


def lmdb_read(root: Path, mb: int, chunk: int) -> float:
    _drop_cache(root / "lmdb" / "data.mdb")
    env = _env(root / "lmdb", mb)
    count = mb * MIB // chunk
    start = time.perf_counter()
    with env.begin(buffers=True) as txn:
        for j in range(count):
            value = txn.get(j.to_bytes(8, "big"))
            assert value is not None
            bytes(value)  # a chunk leaves the transaction as bytes
    elapsed = time.perf_counter() - start
    env.close()
    return elapsed


def lmdb_stage(root: Path, mb: int, chunk: int) -> float:
    env = _env(root / "lmdb-staging", mb)
    pieces = _chunks(mb, chunk)
    count = mb * MIB // chunk
    start = time.perf_counter()
    for j in range(count):
        with env.begin(write=True) as txn:
            txn.put(j.to_bytes(8, "big"), pieces[j % len(pieces)])
    elapsed = time.perf_counter() - start
    env.close()
    return elapsed


def _drop_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def run(directory: Path, mb: int, chunk: int, rounds: int) -> dict[str, object]:
    results: dict[str, list[float]] = {}

    def note(name: str, seconds: float) -> None:
        results.setdefault(name, []).append(mb * MIB / 1e6 / seconds)

    raw: list[float] = []
    for _ in range(rounds):
        root = Path(tempfile.mkdtemp(dir=directory, prefix="snapbench-"))
        try:
            raw.append(raw_disk_rate(root, mb))
            seconds, meta = files_write(root, mb, chunk)
            note("files write", seconds)
            note("lmdb write", lmdb_write(root, mb, chunk))
            note("files read", files_read(root, meta, chunk))
            note("lmdb read", lmdb_read(root, mb, chunk))
            _clear(root, "files", "lmdb")
            note("files stage", files_stage(root, mb, chunk))
            _clear(root, "staging")
            note("lmdb stage", lmdb_stage(root, mb, chunk))
        finally:
            shutil.rmtree(root)
    medians: dict[str, object] = {k: round(statistics.median(v), 1) for k, v in results.items()}
    medians["raw disk write+fdatasync"] = round(statistics.median(raw), 1)
    return {"mb": mb, "chunk_kb": chunk // 1024, "rounds": rounds, "mb_s": medians}


def _clear(root: Path, *names: str) -> None:
    for name in names:
        shutil.rmtree(root / name, ignore_errors=True)


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=1024, help="snapshot size in MiB")
    parser.add_argument("--chunk-kb", type=int, default=1024, help="chunk size in KiB")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (medians reported)")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()), help="where")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    result = run(args.dir, args.mb, args.chunk_kb * 1024, args.rounds)
    if args.json:
        out(json.dumps(result))
        return
    out(f"{args.mb} MiB in {args.chunk_kb} KiB chunks, {args.rounds} rounds, MB/s (medians):")
    rates = result["mb_s"]
    assert isinstance(rates, dict)
    for name, rate in rates.items():
        out(f"  {name:<26} {rate:>8}")


if __name__ == "__main__":
    main()
