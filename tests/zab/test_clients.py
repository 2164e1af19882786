"""Clients: any server takes proposals and reads. A follower of an established
leader forwards them and answers its own client; a server without one answers
``NotLeader``. Reads are linearizable: the leader confirms with a quorum round
that it still leads before it names the read index."""

from __future__ import annotations

import pytest

from pyconsensus.core.errors import NotLeader, OutcomeUnknown, ProposalTooLarge
from pyconsensus.core.ready import ProposalCommitted, ReadReady, Reply, RequestFailed
from pyconsensus.core.types import RequestId
from pyconsensus.zab import (
    UNPLACED,
    FollowerStage,
    Notification,
    Ping,
    PingAck,
    ReadReply,
    ReadRequest,
    Request,
    ZabConfig,
)
from tests.zab.support import sent, settle, zab_cluster


def failure(replies: list[Reply], rid: RequestId) -> Exception:
    """The error of the failed request ``rid``."""
    for reply in replies:
        if reply.request_id == rid:
            assert isinstance(reply, RequestFailed), reply
            return reply.error
    raise AssertionError(f"no reply for request {rid}")


# -- proposals -------------------------------------------------------------------


def test_a_follower_forwards_a_proposal_and_answers_its_own_client() -> None:
    h = zab_cluster()
    leader = settle(h)
    rid = h.propose(1, b"via follower")
    h.stabilize()
    [request] = sent(h, 1, Request)
    assert request.dst == leader
    assert h.replies[1] == [ProposalCommitted(rid, 1)]
    assert h.replies[leader] == []
    assert [e.data for e in h.applied[leader]] == [b"via follower"]


def test_a_server_without_an_established_leader_answers_not_leader() -> None:
    h = zab_cluster()
    h.isolate(1)
    leader = settle(h, among=[2, 3])
    rid = h.propose(1, b"x")
    error = failure(h.replies[1], rid)
    assert isinstance(error, NotLeader) and error.leader_hint is None  # LOOKING
    # A follower still in its handshake names the leader it is joining.
    h.heal()
    h.tick(1, 10)
    for _ in range(3):
        h.deliver(types=Notification)
    assert h.node(1).stage is FollowerStage.DISCOVERY  # following, not synced yet
    rid = h.propose(1, b"y")
    error = failure(h.replies[1], rid)
    assert isinstance(error, NotLeader) and error.leader_hint == leader


def test_a_duplicated_forwarded_request_is_proposed_once() -> None:
    h = zab_cluster()
    leader = settle(h)
    rid = h.propose(1, b"once")
    [request] = [m for m in h.pending if isinstance(m, Request)]
    h.node(leader).receive(request)  # the network delivers it twice
    h.stabilize()
    assert h.node(leader).counters["forward.duplicates"] == 1
    assert [e.data for e in h.applied[2]] == [b"once"]
    assert h.replies[1] == [ProposalCommitted(rid, 1)]


def test_a_lost_forwarded_request_is_sent_again() -> None:
    config = ZabConfig(forward_retry_ticks=5)
    h = zab_cluster(config=config)
    settle(h)
    rid = h.propose(1, b"retried")
    h.drop(types=Request)
    for _ in range(config.forward_retry_ticks):
        h.tick_all()
        h.stabilize()
    assert h.node(1).counters["forward.retries"] == 1
    assert h.replies[1] == [ProposalCommitted(rid, 1)]


def test_a_forwarded_proposal_the_old_leader_never_placed_has_an_unknown_outcome() -> None:
    h = zab_cluster()
    leader = settle(h)
    rid = h.propose(1, b"in flight")
    h.drop(types=Request)  # it may or may not have reached the leader...
    h.crash(leader)  # ...which then dies
    settle(h, among=[1, 2])
    error = failure(h.replies[1], rid)
    assert isinstance(error, OutcomeUnknown) and error.index == UNPLACED


def test_a_forwarded_proposal_folded_into_a_snap_is_still_answered() -> None:
    h = zab_cluster()
    leader = settle(h)
    rid = h.propose(1, b"mine")
    h.deliver(types=Request)
    h.isolate(1)  # the proposal, and where it went, never reach node 1
    for k in range(5):
        h.propose(leader, b"other-%d" % k)
    h.stabilize()
    for member in (2, leader):
        h.compact(member, h.node(member).applied, b"state")
        h.flush(member)
    h.heal()
    for _ in range(20):  # node 1 learns from the pings that it lacks what was sent
        h.tick_all()
        h.stabilize()
    assert h.node(1).counters["sync.snap"] == 1
    assert h.replies[1] == [ProposalCommitted(rid, 1)]


def test_a_proposal_larger_than_the_limit_is_refused() -> None:
    h = zab_cluster(config=ZabConfig(max_entry_bytes=8))
    leader = settle(h)
    rid = h.propose(leader, b"x" * 9)
    error = failure(h.replies[leader], rid)
    assert isinstance(error, ProposalTooLarge) and (error.size, error.limit) == (9, 8)


def test_a_proposal_must_be_bytes() -> None:
    h = zab_cluster()
    leader = settle(h)
    with pytest.raises(TypeError):
        h.node(leader).propose("text")  # type: ignore[arg-type]


# -- reads -----------------------------------------------------------------------


def test_a_leader_read_waits_for_a_quorum_to_confirm_its_leadership() -> None:
    h = zab_cluster()
    leader = settle(h)
    h.propose(leader, b"x")
    h.stabilize()
    rid = h.read(leader)
    assert h.replies[leader][-1] != ReadReady(rid, 1)
    pings = [m for m in h.pending if isinstance(m, Ping)]
    assert {m.dst for m in pings} == {1, 2} and all(m.read_round == 1 for m in pings)
    h.deliver(types=Ping, to=1)
    h.deliver(types=PingAck)
    assert h.replies[leader][-1] == ReadReady(rid, 1)


def test_a_follower_forwards_a_read_to_the_leader() -> None:
    h = zab_cluster()
    leader = settle(h)
    h.propose(leader, b"x")
    h.stabilize()
    rid = h.read(2)
    h.stabilize()
    assert [m.dst for m in sent(h, 2, ReadRequest)] == [leader]
    assert [m.index for m in sent(h, leader, ReadReply)] == [1]
    assert h.replies[2] == [ReadReady(rid, 1)]


def test_a_leader_cut_off_from_its_quorum_never_confirms_a_read() -> None:
    config = ZabConfig(sync_ticks=10)
    h = zab_cluster(config=config)
    leader = settle(h)
    h.isolate(leader)
    rid = h.read(leader)
    h.tick(leader, config.sync_ticks * 2)
    error = failure(h.replies[leader], rid)
    assert isinstance(error, NotLeader)
    assert not any(isinstance(r, ReadReady) for r in h.replies[leader])


def test_a_read_on_a_server_without_a_leader_answers_not_leader() -> None:
    h = zab_cluster()
    h.isolate(1)
    settle(h, among=[2, 3])
    rid = h.read(1)
    assert isinstance(failure(h.replies[1], rid), NotLeader)


def test_a_lone_server_answers_reads_at_once() -> None:
    h = zab_cluster(members=(1,))
    h.propose(1, b"x")
    rid = h.read(1)
    assert h.replies[1][-1] == ReadReady(rid, 1)


def test_a_follower_read_is_answered_only_after_the_leaders_quorum_round() -> None:
    h = zab_cluster(members=(1, 2, 3, 4, 5))
    leader = settle(h)
    rid = h.read(1)
    h.deliver(types=ReadRequest)
    h.deliver(types=Ping, to=1)
    h.deliver(types=PingAck)
    assert not sent(h, leader, ReadReply)  # the leader and one follower: 2 of 5
    h.deliver(types=Ping, to=2)
    h.deliver(types=PingAck)
    h.deliver(types=ReadReply)
    assert h.replies[1] == [ReadReady(rid, 0)]
