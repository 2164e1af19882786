"""Leadership transfer (thesis section 3.10, etcd raft's ``MsgTimeoutNow``).

The leader stops taking proposals, brings the target's log up to date, then
tells it to campaign at once. The target's campaign skips PreVote and
overrides the stickiness of followers that still hear from the old leader;
if nothing comes of it within ``transfer_timeout_ticks`` the leader goes on.
"""

from __future__ import annotations

import pytest

from pyconsensus.core.errors import ConfigError, NotLeader
from pyconsensus.core.ready import ProposalCommitted, RequestFailed
from pyconsensus.core.types import Role
from pyconsensus.raft import RaftNode
from pyconsensus.raft.messages import TimeoutNow, TransferVote
from pyconsensus.sim.harness import Harness
from tests.raft.support import elected


def _settle(h: Harness[RaftNode], node: int = 1, rounds: int = 3) -> None:
    for _ in range(rounds):
        h.tick(node)
        h.stabilize()


def test_the_target_takes_over_in_the_next_term() -> None:
    h = elected(3)
    h.node(1).transfer_leadership(2)
    h.flush(1)
    h.stabilize()
    assert h.node(2).status().role is Role.LEADER
    assert h.node(2).term == 2
    assert h.node(1).status().role is Role.FOLLOWER
    assert h.node(1).leader == 2


def test_the_campaign_skips_prevote_and_overrides_leader_stickiness() -> None:
    """Nodes 1 and 3 heard from their leader a moment ago (PreVote and
    CheckQuorum on): a plain vote request would be ignored, a transfer's is not."""
    h = elected(3)
    h.node(1).transfer_leadership(2)
    h.flush(1)
    h.deliver(types=TimeoutNow)
    votes = [m for m in h.pending if isinstance(m, TransferVote)]
    assert votes and not any(v.pre_vote for v in votes)
    assert h.node(2).counters["elections.pre_vote"] == 0
    h.stabilize()
    assert h.node(3).counters["ignored.vote_in_lease"] == 0
    assert h.node(2).status().role is Role.LEADER


def test_the_leader_catches_the_target_up_before_it_tells_it_to_campaign() -> None:
    h = elected(3)
    h.cut(1, 3)
    h.propose(1, b"x")
    _settle(h)
    assert h.node(3).log.last_index < h.node(1).log.last_index
    h.heal()
    h.node(1).transfer_leadership(3)
    h.flush(1)
    assert not any(isinstance(m, TimeoutNow) for m in h.pending)  # 3 is behind
    for _ in range(50):
        if any(isinstance(m, TimeoutNow) for m in h.pending):
            break
        if not h.pending:
            h.tick(1)
        h.deliver()
    # TimeoutNow went out only once 3 held everything the leader has.
    assert h.node(3).log.last_index == h.node(1).log.last_index
    h.stabilize()
    assert h.node(3).status().role is Role.LEADER
    assert [e.data for e in h.applied[3] if e.data] == [b"x"]


def test_proposals_stop_during_a_transfer() -> None:
    h = elected(3)
    h.isolate(2)
    h.node(1).transfer_leadership(2)
    rid = h.propose(1, b"x")
    assert RequestFailed(rid, NotLeader(None)) in h.replies[1]


def test_a_transfer_that_cannot_finish_times_out_cleanly() -> None:
    h = elected(3, transfer_timeout_ticks=10)
    h.isolate(2)
    h.node(1).transfer_leadership(2)
    _settle(h, rounds=10)
    leader = h.node(1)
    assert leader.status().role is Role.LEADER
    assert leader.counters["transfer.timed_out"] == 1
    rid = h.propose(1, b"x")
    _settle(h)
    assert ProposalCommitted(rid, leader.log.last_index) in h.replies[1]


def test_only_a_voter_can_be_the_target_and_only_the_leader_can_transfer() -> None:
    h = elected(3)
    with pytest.raises(ConfigError, match="not a voter"):
        h.node(1).transfer_leadership(7)
    with pytest.raises(NotLeader):
        h.node(2).transfer_leadership(3)
