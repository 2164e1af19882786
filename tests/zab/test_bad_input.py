"""Bad input: whatever a broken or confused peer sends is dropped and counted in
``counters["dropped.<reason>"]`` (or ``ignored.<reason>`` when the message is
well formed but out of place); it never raises and never changes the node."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from pyconsensus.core.snapshots import SnapshotMeta, checksum
from pyconsensus.core.types import Entry, NodeId
from pyconsensus.sim import Harness
from pyconsensus.zab import (
    Ack,
    AckEpoch,
    AckNewLeader,
    Commit,
    Diff,
    FollowerInfo,
    NewEpoch,
    NewLeader,
    Notification,
    PeerState,
    Ping,
    PingAck,
    Proposal,
    ReadReply,
    ReadRequest,
    Request,
    Snap,
    SnapAck,
    SnapChunk,
    Trunc,
    UpToDate,
    Vote,
    ZabNode,
    Zxid,
)
from tests.zab.support import connection, give_up_leadership, settle, zab_cluster

LEADER, FOLLOWER = 3, 1
VOTE = Vote(1, Zxid(1, 1), 3)
NOTIFICATION = Notification(3, 1, 1, PeerState.LEADING, VOTE)
NEWLEADER = NewLeader(3, 1, 2, 7, Diff(()), 0)
ACKEPOCH = AckEpoch(1, 3, 1, 7, 1, Zxid(1, 1), 0, True)
SNAPSHOT = SnapshotMeta(5, 1, None, 0, checksum(b""))


def forged(value: Any, **fields: object) -> Any:
    """``value`` with some fields replaced by what no correct peer would send."""
    return attrs.evolve(value, **fields)


def _unset_ping() -> Ping:
    ping: Ping = object.__new__(Ping)  # no fields at all: reading one raises
    return ping


# (the node the message is for, the message, the counter it must bump)
MALFORMED: list[tuple[NodeId, Any, str]] = [
    (FOLLOWER, object(), "unknown_type"),
    (FOLLOWER, "PING", "unknown_type"),
    (FOLLOWER, Ping(3, 2, 1, 0), "wrong_destination"),
    (FOLLOWER, Ping(9, 1, 1, 0), "unknown_sender"),
    (FOLLOWER, Ping(1, 1, 1, 0), "unknown_sender"),
    (FOLLOWER, _unset_ping(), "malformed"),
    (FOLLOWER, Ping(3, 1, -1, 0), "bad_epoch"),
    (FOLLOWER, Ping(3, 1, True, 0), "bad_epoch"),
    (FOLLOWER, Ping(3, 1, 1, -1), "bad_index"),
    (FOLLOWER, forged(Ping(3, 1, 1, 0), sent="far"), "bad_index"),
    (FOLLOWER, Notification(3, 1, -1, PeerState.LEADING, VOTE), "bad_round"),
    (FOLLOWER, forged(NOTIFICATION, state="leading"), "malformed"),
    (FOLLOWER, forged(NOTIFICATION, vote=(1, 1, 3)), "malformed"),
    (FOLLOWER, Notification(3, 1, 1, PeerState.LEADING, Vote(1, Zxid(2, 1), 3)), "bad_zxid"),
    (FOLLOWER, Notification(3, 1, 1, PeerState.LEADING, Vote(1, Zxid(0, 4), 3)), "bad_zxid"),
    (FOLLOWER, Notification(3, 1, 1, PeerState.LEADING, Vote(1, Zxid(1, 1), -3)), "bad_vote"),
    (FOLLOWER, Notification(3, 1, 1, PeerState.LEADING, VOTE, -1), "bad_epoch"),
    (FOLLOWER, NewEpoch(3, 1, 0, 7), "bad_epoch"),
    (FOLLOWER, forged(NewEpoch(3, 1, 2, 7), conn="conn"), "malformed"),
    (FOLLOWER, forged(NEWLEADER, sync="DIFF"), "malformed"),
    (FOLLOWER, forged(NEWLEADER, sync=forged(Diff(()), entries=[Entry(2, 1)])), "malformed"),
    (FOLLOWER, NewLeader(3, 1, 2, 7, Diff((Entry(2, 3),)), 0), "bad_epoch"),
    (FOLLOWER, NewLeader(3, 1, 2, 7, Diff((Entry(2, 2), Entry(4, 2))), 0), "bad_index"),
    (FOLLOWER, NewLeader(3, 1, 2, 7, Diff((Entry(2, 2), Entry(3, 1))), 0), "bad_epoch"),
    (FOLLOWER, NewLeader(3, 1, 2, 7, Trunc(1, (Entry(3, 2),)), 0), "bad_index"),
    (FOLLOWER, NewLeader(3, 1, 2, 7, Trunc(-1, ()), 0), "bad_index"),
    (FOLLOWER, NewLeader(3, 1, 2, 7, Snap(attrs.evolve(SNAPSHOT, term=3), ()), 0), "bad_index"),
    (FOLLOWER, forged(NEWLEADER, sync=Snap(forged(SNAPSHOT, size="s"), ())), "malformed"),
    (
        FOLLOWER,
        NewLeader(3, 1, 2, 7, Snap(attrs.evolve(SNAPSHOT, term=2), (Entry(6, 1),)), 0),
        "bad_epoch",
    ),
    (FOLLOWER, SnapChunk(3, 1, 2, 7, SNAPSHOT, 0, b"x", True), "bad_chunk"),
    (FOLLOWER, SnapChunk(3, 1, 2, 7, SNAPSHOT, 0, "x", True), "malformed"),  # type: ignore[arg-type]
    (LEADER, SnapAck(1, 3, 2, 7, SNAPSHOT, 1), "bad_index"),
    (FOLLOWER, NewLeader(3, 1, 2, 7, Diff(()), -1), "bad_index"),
    (FOLLOWER, forged(NEWLEADER, origins=((1,),)), "malformed"),
    (FOLLOWER, NewLeader(3, 1, 2, 7, Diff(()), 0, ((1, -2),)), "bad_index"),
    (FOLLOWER, UpToDate(3, 1, 1, 7, -4), "bad_index"),
    (FOLLOWER, Proposal(3, 1, 1, (), 0), "malformed"),
    (FOLLOWER, Proposal(3, 1, 1, (Entry(2, 0),), 0), "bad_epoch"),
    (FOLLOWER, Proposal(3, 1, 2, (Entry(2, 1),), 0), "bad_epoch"),
    (FOLLOWER, Proposal(3, 1, 1, (Entry(2, 1), Entry(2, 1)), 0), "bad_index"),
    (FOLLOWER, Proposal(3, 1, 1, (forged(Entry(2, 1), index="2"),), 0), "bad_index"),
    # Every entry of a batch is checked, not only the first and the last:
    (FOLLOWER, Proposal(3, 1, 1, (Entry(2, 1), Entry(5, 1), Entry(4, 1)), 0), "bad_index"),
    (FOLLOWER, Proposal(3, 1, 1, (Entry(2, 1), forged(Entry(3, 1), data="x")), 0), "malformed"),
    (FOLLOWER, Proposal(3, 1, 1, (Entry(2, 1),), -1), "bad_index"),
    (FOLLOWER, forged(Proposal(3, 1, 1, (Entry(2, 1),), 0), entries=("entry",)), "malformed"),
    (FOLLOWER, Commit(3, 1, 1, -1), "bad_index"),
    (FOLLOWER, ReadReply(3, 1, 1, 1, -5), "bad_index"),
    (FOLLOWER, forged(ReadReply(3, 1, 1, 1, 0), request_id="r"), "bad_request_id"),
    (LEADER, FollowerInfo(1, 3, -3, 7, 7), "bad_epoch"),
    (LEADER, forged(FollowerInfo(1, 3, 0, 7, 7), session=None), "malformed"),
    (LEADER, AckEpoch(1, 3, 1, 7, 2, Zxid(1, 1), 0, True), "bad_epoch"),
    (LEADER, AckEpoch(1, 3, 1, 7, 1, Zxid(1, 1), 2, True), "bad_index"),
    (LEADER, forged(ACKEPOCH, last_zxid=(1, 1)), "malformed"),
    (LEADER, forged(ACKEPOCH, fresh="yes"), "malformed"),
    (LEADER, AckNewLeader(1, 3, 1, 7, -1), "bad_index"),
    (LEADER, Ack(1, 3, 1, -1), "bad_index"),
    (LEADER, PingAck(1, 3, 1, -1), "bad_index"),
    (LEADER, forged(Request(1, 3, 1, 5, 1, b"x", 1), data="text"), "malformed"),
    (LEADER, Request(1, 3, 1, 5, -1, b"x", 1), "bad_request_id"),
    (LEADER, ReadRequest(1, 3, 1, -2), "bad_request_id"),
]


def snapshot_of(node: ZabNode) -> tuple[object, ...]:
    return (
        node.status(),
        node.state,
        node.stage,
        node.phase,
        node.accepted_epoch,
        node.current_epoch,
        tuple(node.history.entries),
        node.election.vote,
        node.election.round,
    )


@pytest.fixture
def cluster() -> Harness[ZabNode]:
    h = zab_cluster()
    assert settle(h) == LEADER
    h.propose(LEADER, b"x")
    h.stabilize()
    return h


@pytest.mark.parametrize(("target", "message", "reason"), MALFORMED)
def test_a_malformed_message_is_dropped_and_counted(
    cluster: Harness[ZabNode], target: NodeId, message: object, reason: str
) -> None:
    node = cluster.node(target)
    before = snapshot_of(node)
    node.receive(message)
    assert node.counters["dropped." + reason] == 1
    assert sum(v for k, v in node.counters.items() if k.startswith("dropped.")) == 1
    assert snapshot_of(node) == before
    assert not node.has_ready()


def test_a_proposal_from_a_server_that_is_not_our_leader_is_ignored(
    cluster: Harness[ZabNode],
) -> None:
    node = cluster.node(FOLLOWER)
    before = snapshot_of(node)
    node.receive(Proposal(2, 1, 1, (Entry(2, 1, b"forged"),), 2))
    assert node.counters["ignored.not_from_leader"] == 1
    assert snapshot_of(node) == before and not node.has_ready()


def test_a_proposal_of_another_epoch_is_ignored(cluster: Harness[ZabNode]) -> None:
    node = cluster.node(FOLLOWER)
    before = snapshot_of(node)
    node.receive(Proposal(3, 1, 5, (Entry(2, 5, b"future"),), 2))
    assert node.counters["ignored.not_synced"] == 1
    assert snapshot_of(node) == before and not node.has_ready()


def test_a_handshake_message_of_another_connection_is_ignored(
    cluster: Harness[ZabNode],
) -> None:
    node = cluster.node(FOLLOWER)
    before = snapshot_of(node)
    node.receive(NewLeader(3, 1, 1, connection(node) + 1, Trunc(0, ()), 0))
    node.receive(NewEpoch(3, 1, 9, connection(node) + 1))
    assert node.counters["ignored.stale_handshake"] == 2
    assert snapshot_of(node) == before and not node.has_ready()


def test_an_acknowledgement_beyond_the_leaders_history_is_dropped(
    cluster: Harness[ZabNode],
) -> None:
    leader = cluster.node(LEADER)
    before = snapshot_of(leader)
    leader.receive(Ack(1, 3, 1, 99))
    assert leader.counters["dropped.bad_index"] == 1
    assert snapshot_of(leader) == before and not leader.has_ready()


def test_a_sync_that_would_undo_committed_transactions_is_refused() -> None:
    h = zab_cluster()
    assert settle(h) == LEADER
    h.propose(LEADER, b"x")
    h.stabilize()
    node = h.node(FOLLOWER)
    assert node.commit == 1
    give_up_leadership(h, LEADER)  # a new epoch; intercept its NEWLEADER to node 1
    while not any(isinstance(m, NewLeader) and m.dst == FOLLOWER for m in h.pending):
        h.deliver()
    newleader = next(m for m in h.pending if isinstance(m, NewLeader) and m.dst == FOLLOWER)
    h.drop(types=NewLeader, to=FOLLOWER)
    forged = NewLeader(3, 1, newleader.epoch, newleader.conn, Trunc(0, ()), 0)
    node.receive(forged)
    assert node.counters["dropped.bad_sync"] == 1
    assert [e.data for e in node.history.entries] == [b"x"]
    settle(h)
    assert [e.data for e in h.node(FOLLOWER).history.entries] == [b"x"]
