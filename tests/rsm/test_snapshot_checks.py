"""A received snapshot is checked before the core installs it (issue 16).

``ReplicatedStateMachine.snapshot_problem`` says why a snapshot could not be
restored; the layer asks it before restoring a received snapshot, and
refuses a malformed one (``snapshots.refused``) instead of failing at restore.
"""

from __future__ import annotations

import random
import struct

import pytest

from pyconsensus.core.storage import MemoryStorage
from pyconsensus.raft import RaftNode
from pyconsensus.rsm import KVStateMachine, ReplicatedStateMachine, kv


def _rsm() -> ReplicatedStateMachine:
    machine = KVStateMachine()
    machine.apply(kv.put(b"k", b"v"))
    return ReplicatedStateMachine(RaftNode(1, [1], MemoryStorage(), random.Random(1)), machine)


def test_a_snapshot_of_this_layer_passes() -> None:
    rsm = _rsm()
    assert rsm.snapshot_problem(0, rsm.snapshot()) is None


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
    problem = rsm.snapshot_problem(0, data)
    assert problem is not None and reason in problem


def test_a_snapshot_labelled_with_another_index_is_refused() -> None:
    rsm = _rsm()
    problem = rsm.snapshot_problem(7, rsm.snapshot())
    assert problem is not None and "holds the state at 0" in problem


def test_the_machines_own_verification_is_asked() -> None:
    rsm = _rsm()
    data = rsm.snapshot()
    # Claim one more key than the machine's part holds: the envelope is fine.
    (length,) = struct.unpack_from(">Q", data, len(data) - len(rsm.machine.snapshot()) - 8)
    machine_part = bytearray(rsm.machine.snapshot())
    machine_part[3] += 1
    damaged = data[: len(data) - len(machine_part)] + bytes(machine_part)
    problem = rsm.snapshot_problem(0, damaged)
    assert problem is not None and "key-value snapshot" in problem
    assert length == len(machine_part)
