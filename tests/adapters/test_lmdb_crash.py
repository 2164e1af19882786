"""Crash tests with real processes: SIGKILL a writer at random moments, then check
that every acknowledged write survived whole and nothing else half-survived.

A forked child appends to an ``LmdbStorage`` (with the default ``sync=True``)
and reports each write as acknowledged only after ``write`` returned. The
parent kills it with SIGKILL after a seeded number of acknowledgements (plus a
seeded sub-millisecond delay), while it is busy with the next write - most
often inside LMDB's commit and flush. After every kill the parent reopens the
directory with a full checksum scan and compares it with a model: the storage
must hold exactly the acknowledged writes, or those plus the one in flight
(a write is atomic: all or nothing), with a contiguous log and intact entries.

``PYCONSENSUS_CRASH_KILLS`` raises the number of kills per seed for a soak.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from random import Random

import pytest

from pyconsensus.adapters.lmdb import LmdbStorage
from pyconsensus.core.ready import Write
from tests.adapters.crash_workload import SEQ_KEY, make_write, perform, shape_of
from tests.adapters.forked import read_lines, spawn_child, spin
from tests.storage.conformance import Model

SEEDS = range(8)
KILLS_PER_SEED = int(os.environ.get("PYCONSENSUS_CRASH_KILLS", "40"))
CLUSTER = "crash-test"


def open_storage(path: Path) -> LmdbStorage:
    return LmdbStorage(path, cluster_id=CLUSTER, node_id=7, verify_entries=None)


def child(path: Path, seed: int, report: int) -> None:
    """The writer: append forever, acknowledging each write on the pipe."""
    storage = open_storage(path)
    seq = storage.metadata().get(SEQ_KEY, 0)
    assert isinstance(seq, int)
    while True:
        shape = shape_of(storage.last_index(), storage.metadata(), storage.snapshot())
        perform(storage, make_write(seed, seq, shape))
        seq += 1
        os.write(report, f"{seq}\n".encode())


def spawn(path: Path, seed: int) -> tuple[int, int]:
    """Fork a writer; return its pid and the read end of its report pipe."""
    return spawn_child(lambda report: child(path, seed, report))


def read_acks(fd: int, wanted: int | None) -> tuple[int, bytes]:
    """Read acknowledgements until ``wanted`` arrived (``None``: until EOF).
    Returns the highest acknowledged sequence number and what was left over."""
    lines, rest = read_lines(fd, wanted)
    return max((int(line) for line in lines), default=0), rest


@pytest.mark.parametrize("seed", SEEDS)
def test_sigkill_never_loses_an_acknowledged_write_nor_keeps_half_of_one(
    tmp_path: Path, seed: int, record_property: Callable[[str, object], None]
) -> None:
    rng = Random(seed)
    path = tmp_path / "node"
    model = Model()
    writes: list[Write] = []  # writes the model has applied, in order
    in_flight_survived = 0
    for _ in range(KILLS_PER_SEED):
        pid, fd = spawn(path, seed)
        try:
            acked, _ = read_acks(fd, rng.randint(1, 6))
            spin(rng.random() * 0.002)
        finally:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        # Acknowledgements written before the kill are still in the pipe.
        drained, rest = read_acks(fd, None)
        os.close(fd)
        acked = max(acked, drained)
        assert rest == b""  # an acknowledgement is one write(2): never torn

        storage = open_storage(path)  # full checksum scan of every entry
        try:
            stored_seq = storage.metadata().get(SEQ_KEY, 0)
            assert isinstance(stored_seq, int)
            assert acked <= stored_seq <= acked + 1, (acked, stored_seq)
            while len(writes) < stored_seq:
                shape = shape_of(model.last_index(), model.metadata, model.snapshot)
                write = make_write(seed, len(writes), shape)
                model.apply(write)
                writes.append(write)
            in_flight_survived += stored_seq - acked
            model.assert_matches(storage)
            indices = [e.index for e in storage.entries(0, 1 << 62)]
            assert indices == list(range(storage.first_index(), storage.last_index() + 1))
        finally:
            storage.close()
    assert len(writes) >= KILLS_PER_SEED  # every round acknowledged at least one write
    # How often the write in flight had committed when the kill landed.
    record_property("in_flight_survived", in_flight_survived)
