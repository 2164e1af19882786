"""Phase 3, broadcast: PROPOSAL, ACK, COMMIT - pipelined, batched, committed in
zxid order once a quorum acknowledged - and what happens when the leader or
its quorum goes away."""

from __future__ import annotations

from pyconsensus.core.errors import ProposalDropped
from pyconsensus.core.ready import ProposalCommitted, RequestFailed
from pyconsensus.core.types import Role
from pyconsensus.zab import (
    Ack,
    Commit,
    FollowerInfo,
    NewLeader,
    PeerState,
    Proposal,
    Trunc,
    ZabConfig,
)
from tests.zab.support import sent, settle, zab_cluster


def test_a_transaction_commits_once_a_quorum_acknowledged_it() -> None:
    h = zab_cluster(members=(1, 2, 3, 4, 5))
    leader = settle(h)
    rid = h.propose(leader, b"x")
    h.deliver(types=Proposal)
    h.deliver(types=Ack, src=1)
    assert h.node(leader).commit == 0  # the leader and one follower: 2 of 5
    h.deliver(types=Ack, src=2)
    assert h.node(leader).commit == 1  # 3 of 5
    h.stabilize()
    assert h.replies[leader] == [ProposalCommitted(rid, 1)]
    assert all([e.data for e in h.applied[m]] == [b"x"] for m in h.members)


def test_the_leader_keeps_proposing_while_acks_are_outstanding() -> None:
    h = zab_cluster()
    leader = settle(h)
    h.propose(leader, b"a")
    h.propose(leader, b"b")
    h.propose(leader, b"c")
    # Three proposals on their way to each follower before any is acknowledged.
    to_1 = [m for m in h.pending if isinstance(m, Proposal) and m.dst == 1]
    assert [[e.data for e in m.entries] for m in to_1] == [[b"a"], [b"b"], [b"c"]]
    h.stabilize()
    assert [e.index for e in h.applied[1]] == [1, 2, 3]


def test_proposals_made_between_two_batches_travel_in_one_message() -> None:
    h = zab_cluster()
    leader = settle(h)
    node = h.node(leader)
    for k in range(5):
        node.propose(b"tx-%d" % k)
    h.flush(leader)
    to_1 = [m for m in h.pending if isinstance(m, Proposal) and m.dst == 1]
    assert len(to_1) == 1 and len(to_1[0].entries) == 5
    write = h.readies[leader][-1].write
    assert write is not None and len(write.entries) == 5  # one durable write too


def test_transactions_commit_in_zxid_order() -> None:
    h = zab_cluster(members=(1, 2, 3, 4, 5))
    leader = settle(h)
    h.propose(leader, b"a")
    h.deliver(types=Proposal, to=1)
    h.deliver(types=Proposal, to=2)
    h.drop(types=Proposal)
    h.propose(leader, b"b")
    h.deliver(types=Proposal, to=1)
    h.drop(types=Proposal)
    h.deliver(types=Ack)
    # Follower 1 holds a and b, follower 2 only a: a quorum holds a alone.
    assert h.node(leader).commit == 1
    assert [e.data for e in h.applied[leader]] == [b"a"]


def test_a_follower_that_misses_a_proposal_reconnects_and_receives_a_diff() -> None:
    h = zab_cluster()
    leader = settle(h)
    h.propose(leader, b"a")
    h.drop(types=Proposal, to=1)
    h.propose(leader, b"b")
    h.stabilize()
    node = h.node(1)
    assert node.counters["follower.gap"] == 1
    assert len(sent(h, 1, FollowerInfo)) == 2  # a new connection
    sync = [m.sync for m in sent(h, leader, NewLeader) if m.dst == 1][-1]
    assert [e.data for e in sync.entries] == [b"a", b"b"]
    assert [e.data for e in h.applied[1]] == [b"a", b"b"]


def test_a_follower_learns_of_a_commit_from_commit_messages() -> None:
    h = zab_cluster()
    leader = settle(h)
    h.propose(leader, b"a")
    h.deliver(types=Proposal)
    h.deliver(types=Ack, src=1)
    h.drop(types=Ack)
    assert h.node(leader).commit == 1
    assert h.applied[2] == []  # follower 2 holds a but does not know it committed
    h.deliver(types=Commit, to=2)
    assert [e.data for e in h.applied[2]] == [b"a"]


def test_a_leader_that_loses_its_quorum_steps_down() -> None:
    config = ZabConfig(sync_ticks=10)
    h = zab_cluster(config=config)
    leader = settle(h)
    rid = h.propose(leader, b"lost")
    h.isolate(leader)
    h.tick(leader, config.sync_ticks * 2)
    node = h.node(leader)
    assert node.counters["leader.lost_quorum"] == 1
    assert node.state is PeerState.LOOKING
    assert node.status().role is Role.CANDIDATE
    assert node.commit == 0
    # The others elect a leader of their own and commit at the same index.
    others = [m for m in h.members if m != leader]
    new_leader = settle(h, among=others)
    h.propose(new_leader, b"kept")
    h.stabilize()
    h.heal()
    settle(h)
    trunc = [m.sync for m in sent(h, new_leader, NewLeader) if m.dst == leader][-1]
    assert isinstance(trunc, Trunc) and trunc.index == 0
    assert [e.data for e in h.applied[leader]] == [b"kept"]
    [reply] = h.replies[leader]
    assert isinstance(reply, RequestFailed) and reply.request_id == rid
    assert isinstance(reply.error, ProposalDropped) and reply.error.index == 1


def test_a_follower_that_stops_hearing_from_its_leader_goes_back_to_looking() -> None:
    config = ZabConfig(sync_ticks=10)
    h = zab_cluster(config=config)
    leader = settle(h)
    h.crash(leader)
    h.tick(1, config.sync_ticks - 1)
    assert h.node(1).state is PeerState.FOLLOWING
    h.tick(1)
    assert h.node(1).state is PeerState.LOOKING
    assert h.node(1).counters["follower.leader_silent"] == 1
    assert settle(h, among=[1, 2]) == 2


def test_a_lone_server_commits_on_its_own() -> None:
    h = zab_cluster(members=(7,))
    assert h.node(7).established
    rid = h.propose(7, b"solo")
    assert h.replies[7] == [ProposalCommitted(rid, 1)]
    assert h.node(7).current_epoch == 1
