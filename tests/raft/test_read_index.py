"""Linearizable reads with ReadIndex (thesis section 6.4)."""

from __future__ import annotations

from pyconsensus.core.errors import NotLeader
from pyconsensus.core.ready import ReadReady, RequestFailed
from pyconsensus.core.types import Role
from pyconsensus.raft import (
    AppendEntries,
    Heartbeat,
    HeartbeatResponse,
    RequestVote,
    RequestVoteResponse,
)
from tests.raft.support import cluster, elected


def test_a_follower_refuses_reads_and_names_the_leader() -> None:
    h = elected(3)
    rid = h.read(2)
    assert h.replies[2][-1] == RequestFailed(rid, NotLeader(1))


def test_leader_serves_a_read_after_a_quorum_confirms_its_leadership() -> None:
    """The leader records its commit index, then confirms with a round of
    heartbeats that no newer leader exists before answering."""
    h = elected(3)
    h.propose(1, b"x")
    h.stabilize()
    rid = h.read(1)
    assert not any(isinstance(r, ReadReady) for r in h.replies[1])
    beats = [m for m in h.pending if isinstance(m, Heartbeat)]
    assert {m.read_round for m in beats} == {1}
    h.deliver(types=Heartbeat, to=2)
    h.deliver(types=HeartbeatResponse)
    assert ReadReady(rid, 2) in h.replies[1]


def test_a_read_waits_until_the_leader_commits_an_entry_of_its_term() -> None:
    """A fresh leader does not know the commit index until its no-op commits."""
    h = cluster(3)
    node = h.node(1)
    while node.role is not Role.LEADER:
        h.tick(1)
        h.deliver(types=(RequestVote, RequestVoteResponse))
    rid = h.read(1)
    assert node.commit == 0
    assert not any(isinstance(m, Heartbeat) and m.read_round for m in h.pending)
    h.stabilize()  # the no-op commits; only then does the read round start
    assert ReadReady(rid, 1) in h.replies[1]


def test_a_deposed_leader_fails_its_pending_reads() -> None:
    h = elected(3)
    rid = h.read(1)
    h.drop()
    h.node(1).receive(AppendEntries(2, 1, term=5, prev_index=0, prev_term=0, entries=(), commit=0))
    h.flush(1)
    failure = h.replies[1][-1]
    assert isinstance(failure, RequestFailed) and failure.request_id == rid
    assert isinstance(failure.error, NotLeader)


def test_a_single_node_serves_reads_at_once() -> None:
    h = cluster(1)
    h.elect(1)
    rid = h.read(1)
    assert ReadReady(rid, 1) in h.replies[1]


def test_reads_in_one_batch_share_one_heartbeat_round() -> None:
    h = elected(3)
    h.node(1).read()
    h.node(1).read()
    h.flush(1)
    assert len([m for m in h.pending if isinstance(m, Heartbeat)]) == 2  # one per follower
    h.stabilize()
    assert len([r for r in h.replies[1] if isinstance(r, ReadReady)]) == 2
