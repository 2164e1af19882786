"""Membership change (Ongaro's thesis, chapter 4; etcd raft's confchange).

A configuration takes effect on a node as soon as its entry is appended
(thesis 4.1), so every rule here is about what may be appended when, and what
happens when an appended configuration entry is truncated again.
"""

from __future__ import annotations

from pyconsensus.core.changes import (
    AddLearner,
    AddVoter,
    PromoteLearner,
    RemoveMember,
    ReplaceMember,
)
from pyconsensus.core.errors import MembershipChangeRefused, NotLeader
from pyconsensus.core.membership import Membership
from pyconsensus.core.ready import ProposalCommitted, RequestFailed
from pyconsensus.core.types import EntryKind, MemberRole, Role
from pyconsensus.raft import (
    AppendEntries,
    AppendEntriesResponse,
    RaftNode,
    RequestVote,
    RequestVoteResponse,
)
from pyconsensus.sim.harness import Harness
from tests.raft.support import growable

PAPER = {"pre_vote": False, "check_quorum": False}  # elections by the paper's rules alone


def _grown(**config: object) -> Harness[RaftNode]:
    """Voters 1-3 with 1 elected and its no-op committed; 4 and 5 are spares."""
    h = growable(**config)  # type: ignore[arg-type]
    h.elect(1)
    h.tick(1)
    h.stabilize()
    return h


def _settle(h: Harness[RaftNode], leader: int = 1, rounds: int = 3) -> None:
    for _ in range(rounds):
        h.tick(leader)
        h.stabilize()


def _change(h: Harness[RaftNode], change: object, leader: int = 1) -> object:
    """Make ``change`` on ``leader``, let it commit; returns the reply."""
    rid = h.node(leader).change_membership(change)  # type: ignore[arg-type]
    h.flush(leader)
    _settle(h, leader)
    return _reply(h, leader, rid)


def _reply(h: Harness[RaftNode], node: int, rid: int) -> object:
    found = [r for r in h.replies[node] if r.request_id == rid]
    return found[0] if found else None


def _voters(node: RaftNode) -> set[int]:
    return set(node.membership.voters)


# -- single-server changes and learners --------------------------------------


def test_a_single_server_change_takes_effect_when_appended() -> None:
    h = _grown()
    leader = h.node(1)
    leader.change_membership(AddVoter(4))
    assert _voters(leader) == {1, 2, 3, 4}  # before anyone else has it
    assert not leader.membership.is_joint  # one voter changes: no joint configuration
    h.flush(1)
    h.deliver(types=AppendEntries, to=2)
    assert _voters(h.node(2)) == {1, 2, 3, 4}  # appended, not yet committed
    assert _voters(h.node(3)) == {1, 2, 3}


def test_an_added_voter_commits_and_counts() -> None:
    h = _grown()
    reply = _change(h, AddVoter(4))
    assert isinstance(reply, ProposalCommitted)
    assert h.node(4).log.last_index == h.node(1).log.last_index
    # With 4 voters a majority is 3: the leader and one follower no longer commit.
    h.isolate(3)
    h.isolate(4)
    h.propose(1, b"x")
    _settle(h)
    assert h.node(1).commit < h.node(1).log.last_index


def test_a_learner_receives_the_log_but_never_counts_towards_a_quorum() -> None:
    h = _grown()
    assert isinstance(_change(h, AddLearner(4)), ProposalCommitted)
    h.propose(1, b"x")
    _settle(h)
    assert h.applied[4][-1].data == b"x"
    h.isolate(2)
    h.isolate(3)
    h.propose(1, b"y")
    _settle(h)
    assert h.node(4).log.last_index == h.node(1).log.last_index  # 4 has it...
    assert h.node(1).commit < h.node(1).log.last_index  # ...and it does not count


def test_a_learner_never_campaigns() -> None:
    h = _grown()
    _change(h, AddLearner(4))
    h.isolate(4)
    h.tick(4, 200)
    assert h.node(4).status().role is Role.FOLLOWER
    assert h.node(4).counters["elections.pre_vote"] == 0
    assert h.node(4).counters["elections.started"] == 0


def test_a_learner_answers_vote_requests() -> None:
    """A candidate may count a learner promoted in its log but not yet in the
    learner's: the learner must answer (etcd raft does the same)."""
    h = _grown(pre_vote=False, check_quorum=False)
    _change(h, AddLearner(4))
    h.isolate(1)
    h.tick(2, 40)
    h.deliver(types=RequestVote, to=4)
    answers = [m for m in h.pending if isinstance(m, RequestVoteResponse) and m.src == 4]
    assert answers and answers[0].granted


def test_a_caught_up_learner_is_promoted() -> None:
    h = _grown()
    _change(h, AddLearner(4))
    reply = _change(h, PromoteLearner(4))
    assert isinstance(reply, ProposalCommitted)
    assert _voters(h.node(2)) == {1, 2, 3, 4}
    assert dict(h.node(1).status().configuration)[4] is MemberRole.VOTER


def test_a_learner_far_behind_is_not_promoted() -> None:
    h = _grown(max_promotion_lag=3)
    _change(h, AddLearner(4))
    h.isolate(4)
    for k in range(5):
        h.propose(1, b"%d" % k)
    _settle(h)
    reply = _change(h, PromoteLearner(4))
    assert isinstance(reply, RequestFailed)
    assert isinstance(reply.error, MembershipChangeRefused)
    assert "behind" in reply.error.reason
    assert 4 in h.node(1).membership.learners


# -- the rules that bit others -------------------------------------------------


def test_a_new_leader_commits_an_entry_of_its_term_before_a_configuration_change() -> None:
    """The single-server change bug (raft-dev, 2015): a change appended before
    the leader committed an entry of its own term could overlap an uncommitted
    change of an earlier leader. The change is refused until the no-op commits."""
    h = _grown(**PAPER)
    h.isolate(1)
    for _ in range(100):
        h.tick(2)
        h.deliver(types=(RequestVote, RequestVoteResponse))
        h.deliver(types=(RequestVote, RequestVoteResponse))
        if h.node(2).status().role is Role.LEADER:
            break
    leader = h.node(2)
    assert leader.status().role is Role.LEADER
    rid = leader.change_membership(AddVoter(4))
    h.flush(2)
    reply = _reply(h, 2, rid)
    assert isinstance(reply, RequestFailed) and isinstance(reply.error, MembershipChangeRefused)
    assert "entry of its term" in reply.error.reason
    _settle(h, leader=2)  # the no-op commits
    assert isinstance(_change(h, AddVoter(4), leader=2), ProposalCommitted)


def test_only_one_configuration_change_is_in_flight() -> None:
    h = _grown()
    leader = h.node(1)
    leader.change_membership(AddLearner(4))
    rid = leader.change_membership(AddLearner(5))
    h.flush(1)
    reply = _reply(h, 1, rid)
    assert isinstance(reply, RequestFailed) and isinstance(reply.error, MembershipChangeRefused)
    assert "not committed yet" in reply.error.reason


def test_a_truncated_configuration_entry_rolls_back_to_the_previous_configuration() -> None:
    h = _grown(**PAPER)
    h.node(1).change_membership(AddVoter(4))
    h.flush(1)
    h.drop(src=1)  # nobody hears of it
    assert _voters(h.node(1)) == {1, 2, 3, 4}
    h.isolate(1)
    h.elect(2)
    _settle(h, leader=2)
    h.heal()
    _settle(h, leader=2)
    old = h.node(1)
    assert old.status().role is Role.FOLLOWER
    assert _voters(old) == {1, 2, 3}
    assert old.counters["membership.rolled_back"] == 1
    assert all(e.kind is not EntryKind.CONFIG for e in old.log.entries)


def test_two_voters_change_through_a_joint_configuration_left_automatically() -> None:
    h = _grown()
    reply = _change(h, ReplaceMember(3, 4))
    assert isinstance(reply, ProposalCommitted)
    configs = [e for e in h.node(2).log.entries if e.kind is EntryKind.CONFIG]
    joint, left = (Membership.decode(e.data.decode()) for e in configs)
    assert joint == Membership({1, 2, 4}, voters_outgoing={1, 2, 3}, auto_leave=True)
    assert left == Membership({1, 2, 4})
    assert h.node(1).commit >= configs[1].index
    assert h.node(1).counters["membership.auto_leave"] == 1


def test_a_joint_configuration_needs_a_majority_of_the_old_voters_too() -> None:
    """Counting only the new majority would let {1, 4} decide for {1, 2, 3}."""
    h = _grown()
    h.isolate(2)
    h.isolate(3)
    h.node(1).change_membership(ReplaceMember(3, 4))
    h.flush(1)
    _settle(h)
    leader = h.node(1)
    assert leader.membership.is_joint
    assert h.node(4).log.last_index == leader.log.last_index  # new majority {1, 4}
    assert leader.commit < leader.log.last_index  # but old majority missing


def test_a_leader_elected_in_a_joint_configuration_finishes_the_leave() -> None:
    h = _grown(**PAPER)
    h.node(1).change_membership(ReplaceMember(3, 4))
    h.flush(1)
    h.deliver(types=AppendEntries)  # everyone appends the joint configuration
    h.crash(1)  # before it could commit or leave it
    h.pending.clear()
    h.elect(2)
    _settle(h, leader=2)
    leader = h.node(2)
    assert leader.counters["membership.auto_leave"] == 1
    assert leader.membership == Membership({1, 2, 4})
    assert leader.commit == leader.log.last_index


def test_a_leader_removing_itself_steps_down_after_committing() -> None:
    h = _grown()
    leader = h.node(1)
    leader.change_membership(RemoveMember(1))
    assert leader.status().role is Role.LEADER  # still leading the change
    h.flush(1)
    _settle(h)
    assert leader.status().role is Role.FOLLOWER
    assert leader.counters["leader.removed"] == 1
    assert _voters(h.node(2)) == {2, 3}
    campaigns = leader.counters["elections.pre_vote"]
    for _ in range(60):
        h.tick_all()
        h.stabilize()
    assert leader.counters["elections.pre_vote"] == campaigns  # a non-voter never campaigns
    assert {h.node(n).status().role for n in (2, 3)} >= {Role.LEADER}


def test_a_removed_member_cannot_disrupt_the_cluster_with_campaigns() -> None:
    h = _grown(pre_vote=False, check_quorum=False)
    h.isolate(3)
    h.node(1).change_membership(RemoveMember(3))
    h.flush(1)
    _settle(h)
    assert _voters(h.node(1)) == {1, 2}
    h.heal()
    h.tick(3, 60)  # 3 never learnt it was removed: it campaigns
    h.stabilize()
    assert h.node(1).status().role is Role.LEADER and h.node(1).term == 1
    assert h.node(1).counters["dropped.unknown_sender"] > 0
    assert h.node(3).term > 1


# -- the configuration is durable ----------------------------------------------


def test_a_restarted_node_recovers_its_configuration() -> None:
    h = _grown()
    _change(h, AddVoter(4))
    _change(h, AddLearner(5))
    for node in (1, 2, 3, 4, 5):
        h.crash(node)
        h.restart(node)
    assert h.node(2).membership == Membership({1, 2, 3, 4}, learners={5})
    assert h.node(5).membership == Membership({1, 2, 3, 4}, learners={5})


def test_a_snapshot_carries_the_configuration_to_a_node_that_catches_up_from_it() -> None:
    h = _grown()
    _change(h, AddVoter(4))
    h.propose(1, b"x")
    _settle(h)
    for node in (1, 2, 3, 4):
        h.compact(node, h.node(node).applied, b"state")
    _change(h, AddLearner(5))
    five = h.node(5)
    assert five.log.snapshot_index > 0  # caught up from the snapshot
    assert five.membership == Membership({1, 2, 3, 4}, learners={5})
    h.crash(5)
    h.restart(5)
    assert h.node(5).membership == Membership({1, 2, 3, 4}, learners={5})


def test_status_reports_the_pending_configuration_until_it_commits() -> None:
    h = _grown()
    h.node(1).change_membership(AddLearner(4))
    status = h.node(1).status()
    assert dict(status.configuration) == dict.fromkeys((1, 2, 3), MemberRole.VOTER)
    assert dict(status.pending_configuration)[4] is MemberRole.LEARNER
    h.flush(1)
    _settle(h)
    assert h.node(1).status().pending_configuration == ()


def test_a_change_off_the_leader_names_the_leader() -> None:
    h = _grown()
    rid = h.node(2).change_membership(AddLearner(4))
    h.flush(2)
    reply = _reply(h, 2, rid)
    assert reply == RequestFailed(rid, NotLeader(1))


def test_an_append_from_the_leader_before_the_follower_knows_it_is_heard() -> None:
    """A node added to the cluster hears the leader although its configured
    members do not include it (it starts with ``join``)."""
    h = _grown()
    _change(h, AddLearner(4))
    assert h.node(4).leader == 1
    assert h.node(4).counters["dropped.unknown_sender"] == 0


def test_answers_from_a_stranger_are_dropped() -> None:
    h = _grown()
    before = h.node(1).term
    h.node(1).receive(AppendEntriesResponse(5, 1, 9, False, 0))
    assert h.node(1).term == before
    assert h.node(1).counters["dropped.unknown_sender"] == 1
