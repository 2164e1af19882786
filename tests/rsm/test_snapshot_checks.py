"""A received snapshot is checked before the core installs it (issue 16).

``ReplicatedStateMachine.snapshot_problem`` says why a snapshot could not be
restored; ``core.validation.snapshots_in`` finds the snapshots a message
carries, wherever the protocol puts them. Together they let a driver refuse a
malformed snapshot instead of installing it and failing at restore.
"""

from __future__ import annotations

import random
import struct

import pytest

from pyconsensus.core.storage import MemoryStorage
from pyconsensus.core.types import Entry, Snapshot
from pyconsensus.core.validation import snapshots_in
from pyconsensus.paxos.ballot import Ballot
from pyconsensus.paxos.messages import Promise
from pyconsensus.raft import RaftNode
from pyconsensus.raft.messages import AppendEntries, InstallSnapshot
from pyconsensus.rsm import KVStateMachine, ReplicatedStateMachine, kv
from pyconsensus.zab.messages import NewLeader, Snap


def _rsm() -> ReplicatedStateMachine:
    machine = KVStateMachine()
    machine.apply(kv.put(b"k", b"v"))
    return ReplicatedStateMachine(RaftNode(1, [1], MemoryStorage(), random.Random(1)), machine)


def test_a_snapshot_of_this_layer_passes() -> None:
    rsm = _rsm()
    assert rsm.snapshot_problem(Snapshot(0, 1, rsm.snapshot())) is None


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda data: b"junk" + data[4:], "not a replicated-state-machine snapshot"),
        (lambda data: data[:-3], "truncated"),
        (lambda data: data + b"!", "followed by junk"),
        (lambda data: data[:6], "unpack"),
        (lambda data: b"", "not a replicated"),
    ],
    ids=["tag", "cut-short", "trailing", "cut-in-header", "empty"],
)
def test_a_damaged_snapshot_is_refused_with_a_reason(damage: object, reason: str) -> None:
    rsm = _rsm()
    data = damage(rsm.snapshot())  # type: ignore[operator]
    problem = rsm.snapshot_problem(Snapshot(0, 1, data))
    assert problem is not None and reason in problem


def test_a_snapshot_labelled_with_another_index_is_refused() -> None:
    rsm = _rsm()
    problem = rsm.snapshot_problem(Snapshot(7, 1, rsm.snapshot()))
    assert problem is not None and "holds the state at 0" in problem


def test_the_machines_own_verification_is_asked() -> None:
    rsm = _rsm()
    data = rsm.snapshot()
    # Claim one more key than the machine's part holds: the envelope is fine.
    (length,) = struct.unpack_from(">Q", data, len(data) - len(rsm.machine.snapshot()) - 8)
    machine_part = bytearray(rsm.machine.snapshot())
    machine_part[3] += 1
    damaged = data[: len(data) - len(machine_part)] + bytes(machine_part)
    problem = rsm.snapshot_problem(Snapshot(0, 1, damaged))
    assert problem is not None and "key-value snapshot" in problem
    assert length == len(machine_part)


def test_snapshots_are_found_wherever_a_message_carries_them() -> None:
    snapshot = Snapshot(3, 1, b"s")
    assert snapshots_in(InstallSnapshot(1, 2, 1, snapshot)) == [snapshot]
    assert snapshots_in(Promise(1, 2, Ballot(1, 1), (), snapshot)) == [snapshot]
    assert snapshots_in(Promise(1, 2, Ballot(1, 1), ())) == []
    assert snapshots_in(NewLeader(1, 2, 1, 1, Snap(snapshot, ()), 3)) == [snapshot]
    assert snapshots_in(AppendEntries(1, 2, 1, 0, 0, (Entry(1, 1, b"x"),), 0)) == []
    assert snapshots_in("not a message") == []
