"""Crash test with real processes: SIGKILL a receiver while it stages chunks
and installs snapshots, then check that no acknowledged chunk was lost, that
the staged bytes are exactly the sender's, and that no snapshot that exists
after the crash is partial or fails its checksum.

A forked child receives snapshot after snapshot (snapshot ``i`` has index
``i``), each in chunks, resuming from ``staged()`` after every restart, and
reports a chunk as acknowledged only after ``stage`` returned (and an install
only after ``install`` returned). The kills land at seeded moments - inside
the flushes, between staging and install, inside the renames of an install.
"""

from __future__ import annotations

import os
import random
import signal
from pathlib import Path

import pytest

from pyconsensus.adapters.lmdb.snapshots import FileSnapshotStore
from pyconsensus.core.snapshots import SnapshotMeta, checksum
from tests.adapters.forked import read_lines, spawn_child, spin

SEEDS = range(3)
KILLS_PER_SEED = int(os.environ.get("PYCONSENSUS_CRASH_KILLS", "15"))
CHUNK = 4096
SIZE = 12 * CHUNK + 123


def snapshot(index: int) -> tuple[SnapshotMeta, bytes]:
    data = random.Random(index).randbytes(SIZE)
    return SnapshotMeta(index, 1, None, SIZE, checksum(data)), data


def receiver(path: Path, report: int) -> None:
    store = FileSnapshotStore(path)
    while True:
        staged = store.staged()
        if staged is not None:
            meta, offset = staged
        else:
            latest = store.newest()
            meta, offset = snapshot(latest.index + 1 if latest else 1)[0], 0
        data = snapshot(meta.index)[1]
        while offset < SIZE:
            offset = store.stage(meta, offset, data[offset : offset + CHUNK])
            os.write(report, f"staged {meta.index} {offset}\n".encode())
        store.install(meta)
        os.write(report, f"installed {meta.index}\n".encode())
        store.retain(meta)


def read_reports(fd: int, wanted: int | None) -> list[list[str]]:
    lines, _ = read_lines(fd, wanted)
    return [line.decode().split() for line in lines]


@pytest.mark.parametrize("seed", SEEDS)
def test_sigkill_while_staging_or_installing_never_loses_an_acked_chunk_nor_installs_a_bad_snapshot(
    tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    installed = 0  # the newest index reported installed
    acked: tuple[int, int] = (0, 0)  # (index, offset) of the newest acknowledged chunk
    for _ in range(KILLS_PER_SEED):
        pid, fd = spawn_child(lambda report: receiver(tmp_path, report))
        try:
            reports = read_reports(fd, rng.randint(1, 20))
            spin(rng.random() * 0.003)
        finally:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        reports += read_reports(fd, None)
        os.close(fd)
        for report in reports:
            if report[0] == "installed":
                installed = max(installed, int(report[1]))
            else:
                acked = max(acked, (int(report[1]), int(report[2])))

        store = FileSnapshotStore(tmp_path)
        for meta in store.snapshots():
            store.verify(meta)  # complete means whole and intact
        latest = store.newest()
        assert (latest.index if latest else 0) >= installed
        staged = store.staged()
        if staged is not None:
            meta, offset = staged
            assert meta == snapshot(meta.index)[0]
            if meta.index == acked[0]:
                assert offset >= acked[1], (staged, acked)
            with open(tmp_path / "staging.snap", "rb") as file:
                assert file.read() == snapshot(meta.index)[1][:offset]
        elif acked[0] > (latest.index if latest else 0):
            raise AssertionError(f"acknowledged chunks of snapshot {acked[0]} were lost")
    assert installed >= 1
