"""What no correct peer sends is dropped, counted, and changes nothing."""

from __future__ import annotations

import pytest

from pyconsensus.core.snapshots import SnapshotMeta, checksum
from pyconsensus.core.types import Entry, EntryKind
from pyconsensus.paxos import (
    Accept,
    Accepted,
    Ballot,
    CatchUp,
    Decision,
    Heartbeat,
    HeartbeatReply,
    InstallSnapshot,
    MultiPaxosNode,
    Nack,
    Prepare,
    Promise,
    SnapshotAck,
)
from pyconsensus.sim import Harness
from tests.paxos.support import cluster


def meta(index: int, term: int) -> SnapshotMeta:
    return SnapshotMeta(index, term, None, 1, checksum(b"s"))


B1 = Ballot(1, 1)  # the leader's ballot in these tests
T1 = B1.packed


def entry(slot: int, term: int = T1, data: object = b"x") -> Entry:
    return Entry(slot, term, data)  # type: ignore[arg-type]


TO_FOLLOWER: list[tuple[object, str]] = [
    ("hello", "unknown_type"),
    (None, "unknown_type"),
    (Prepare(1, 5, Ballot(2, 1), 1), "wrong_destination"),
    (Prepare(9, 2, Ballot(2, 9), 1), "unknown_sender"),
    (Prepare(2, 2, Ballot(2, 2), 1), "unknown_sender"),
    (Prepare(1, 2, Ballot(2, 3), 1), "bad_ballot"),
    (Prepare(1, 2, Ballot(0, 1), 1), "bad_ballot"),
    (Prepare(1, 2, (2, 1), 1), "malformed"),  # type: ignore[arg-type]
    (Prepare(1, 2, Ballot(2, 1), 0), "bad_index"),
    (Prepare(1, 2, Ballot(2, 1), -4), "bad_index"),
    (Prepare(1, 2, Ballot(2, 1), "1"), "bad_index"),  # type: ignore[arg-type]
    (Accept(1, 2, B1, (), 0), "malformed"),
    (Accept(1, 2, B1, [entry(2)], 0), "malformed"),  # type: ignore[arg-type]
    (Accept(1, 2, B1, (entry(2), entry(4)), 0), "bad_index"),
    (Accept(1, 2, B1, (entry(2), entry(3, term=T1 + 1)), 0), "bad_ballot"),
    (Accept(1, 2, B1, (entry(2, term=Ballot(1, 2).packed),), 0), "bad_ballot"),
    (Accept(1, 2, B1, (entry(2), entry(3, data="text")), 0), "malformed"),
    (Accept(1, 2, B1, (entry(0),), 0), "malformed"),
    (Accept(1, 2, B1, (object(),), 0), "malformed"),  # type: ignore[arg-type]
    (Accept(1, 2, B1, (entry(2),), -1), "bad_index"),
    (Accept(1, 2, B1, (Entry(2, T1, b"", 7),), 0), "malformed"),  # type: ignore[arg-type]
    (Promise(1, 2, Ballot(5, 2), (entry(1, term=Ballot(6, 1).packed),)), "bad_ballot"),
    (Promise(1, 2, Ballot(5, 2), (entry(1, term=0),)), "bad_ballot"),
    (Promise(1, 2, Ballot(5, 2), (entry(-1),)), "malformed"),
    (Promise(1, 2, Ballot(5, 2), [entry(1)]), "malformed"),  # type: ignore[arg-type]
    (Promise(1, 2, Ballot(5, 2), (), "snap"), "malformed"),  # type: ignore[arg-type]
    (Promise(1, 2, Ballot(5, 2), (), meta(2, Ballot(6, 1).packed)), "bad_ballot"),
    (Promise(1, 2, Ballot(5, 1), ()), "bad_ballot"),  # answers a ballot not ours
    (Nack(1, 2, Ballot(3, 2), Ballot(2, 1)), "bad_ballot"),
    (Nack(1, 2, Ballot(3, 2), Ballot(3, 2)), "bad_ballot"),
    (Nack(1, 2, Ballot(3, 2), "high"), "malformed"),  # type: ignore[arg-type]
    (Decision(1, 2, B1, -1), "bad_index"),
    (Decision(1, 2, Ballot(1, 3), 1), "bad_ballot"),
    (Heartbeat(1, 2, B1, 1, read_round=-2), "bad_index"),
    (Heartbeat(1, 2, B1, 1.5), "bad_index"),  # type: ignore[arg-type]
    (InstallSnapshot(1, 2, B1, None, 0, b"s", True), "malformed"),  # type: ignore[arg-type]
    (InstallSnapshot(1, 2, B1, meta(0, 0), 0, b"s", True), "bad_index"),
    (InstallSnapshot(1, 2, B1, meta(3, 0), 0, "s", True), "malformed"),  # type: ignore[arg-type]
    (InstallSnapshot(1, 2, B1, meta(3, 0), 0, b"s", False), "bad_chunk"),
    (InstallSnapshot(1, 2, B1, meta(3, 0), 1, b"s", True), "bad_chunk"),
    (SnapshotAck(1, 2, B1, meta(3, 0), 2), "bad_index"),
    (SnapshotAck(1, 2, B1, meta(3, 0), 0, "yes"), "malformed"),  # type: ignore[arg-type]
]

TO_LEADER: list[tuple[object, str]] = [
    (Accepted(2, 1, B1, 3, 2), "bad_index"),
    (Accepted(2, 1, B1, 0, 2), "bad_index"),
    (Accepted(2, 1, B1, 1, "2"), "bad_index"),  # type: ignore[arg-type]
    (Accepted(2, 1, Ballot(1, 2), 1, 1), "bad_ballot"),
    (HeartbeatReply(2, 1, B1, -1), "bad_index"),
    (HeartbeatReply(2, 1, B1, read_round=None), "bad_index"),  # type: ignore[arg-type]
    (CatchUp(2, 1, B1, 0), "bad_index"),
    (CatchUp(3, 1, Ballot(1, 3), 1), "bad_ballot"),
]


def settled() -> Harness[MultiPaxosNode]:
    h = cluster()
    h.elect(1)
    h.propose(1, b"x")
    h.stabilize()
    return h


def snapshot_of(node: MultiPaxosNode) -> tuple[object, ...]:
    return (
        node.promised,
        node.role,
        node.leader,
        node.learned,
        node.applied,
        list(node.log.slots),
        node.log.base,
    )


@pytest.mark.parametrize(("message", "reason"), TO_FOLLOWER + TO_LEADER)
def test_bad_message_is_dropped_and_counted(message: object, reason: str) -> None:
    h = settled()
    target = 1 if (message, reason) in TO_LEADER else 2
    node = h.node(target)
    before = snapshot_of(node)
    node.receive(message)
    assert node.counters["dropped." + reason] == 1
    assert sum(v for k, v in node.counters.items() if k.startswith("dropped.")) == 1
    assert not node.has_ready()
    assert snapshot_of(node) == before


def test_noop_entries_are_well_formed_input() -> None:
    h = settled()
    node = h.node(2)
    node.receive(Accept(1, 2, B1, (Entry(2, T1, b"", EntryKind.NOOP),), 1))
    assert not any(k.startswith("dropped.") for k in node.counters)
    assert node.log.get(2) == Entry(2, T1, b"", EntryKind.NOOP)
