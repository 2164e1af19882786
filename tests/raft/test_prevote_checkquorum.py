"""PreVote and CheckQuorum (Ongaro's thesis, sections 9.6 and 6.2): a node that
was cut off must not disrupt a healthy leader when it comes back, and a leader
that can no longer reach a quorum must step down."""

from __future__ import annotations

from pyconsensus.core.types import Role
from pyconsensus.raft import (
    AppendEntries,
    AppendEntriesResponse,
    RaftNode,
    RequestVote,
    RequestVoteResponse,
)
from pyconsensus.sim.harness import Harness
from tests.raft.support import elected


def _run(h: Harness[RaftNode], ticks: int) -> None:
    for _ in range(ticks):
        h.tick_all()
        h.stabilize()


def test_prevote_failing_does_not_raise_the_term() -> None:
    """A node that cannot win a PreVote keeps its term: it never forces the
    cluster into a new term it could not lead."""
    h = elected(3)
    h.isolate(3)
    _run(h, 100)
    node3 = h.node(3)
    assert node3.term == 1
    assert node3.counters["elections.pre_vote"] > 0
    assert node3.counters["elections.started"] == 0


def test_partitioned_node_does_not_disrupt_the_leader_when_it_rejoins() -> None:
    """With PreVote, the rejoining node's pre-votes are refused (the others still
    hear from the leader), so the leader and term stay as they were."""
    h = elected(3)
    h.isolate(3)
    _run(h, 100)
    h.heal()
    _run(h, 100)
    assert [h.node(m).role for m in h.members] == [Role.LEADER, Role.FOLLOWER, Role.FOLLOWER]
    assert [h.node(m).term for m in h.members] == [1, 1, 1]
    assert h.node(1).counters["elections.won"] == 1


def test_without_prevote_a_rejoining_node_forces_an_election() -> None:
    """The problem PreVote solves: without it, the isolated node's term runs
    ahead and its return deposes a perfectly healthy leader."""
    h = elected(3, pre_vote=False, check_quorum=False)
    h.isolate(3)
    _run(h, 100)
    assert h.node(3).term > 1
    h.heal()
    _run(h, 100)
    assert h.node(1).term > 1  # the healthy leader's term was disrupted


def test_leader_steps_down_when_it_loses_its_quorum() -> None:
    """CheckQuorum: a leader that has not heard from a majority for an election
    timeout steps down, so clients stop talking to a leader that cannot commit."""
    h = elected(3)
    h.isolate(1)
    leader = h.node(1)
    for _ in range(2 * leader.config.election_ticks + 1):
        h.tick(1)
    assert leader.role is Role.FOLLOWER
    assert leader.counters["leader.lost_quorum"] == 1


def test_leader_with_a_quorum_stays_leader() -> None:
    h = elected(5)
    h.isolate(4)
    h.isolate(5)
    h.cut_links -= {(1, 2), (2, 1), (1, 3), (3, 1)}
    _run(h, 60)
    assert h.node(1).role is Role.LEADER


def test_followers_ignore_vote_requests_while_they_hear_from_a_leader() -> None:
    """A follower within its lease ignores even higher-term RequestVotes: the
    leader is alive, so the candidate must be the one that is out of touch."""
    h = elected(3)
    follower = h.node(2)
    follower.receive(RequestVote(3, 2, term=9, last_index=50, last_term=1))
    assert follower.term == 1
    assert follower.counters["ignored.vote_in_lease"] == 1
    assert not any(isinstance(m, RequestVoteResponse) for m in follower.ready().messages)


def test_prevote_is_granted_once_the_leader_is_gone() -> None:
    h = elected(3)
    h.crash(1)
    _run(h, 60)
    assert any(h.node(m).role is Role.LEADER for m in (2, 3))
    assert max(h.node(m).term for m in (2, 3)) == 2  # exactly one real election


def test_a_deposed_leader_learns_the_new_term_from_a_follower() -> None:
    """An old leader's appends are answered with the higher term, which makes
    it step down at once."""
    h = elected(3)
    h.isolate(1)
    h.crash(1)
    h.heal()
    _run(h, 60)
    new_leader = next(m for m in (2, 3) if h.node(m).role is Role.LEADER)
    h.restart(1)
    old = h.node(1)
    follower = 5 - new_leader
    h.node(follower).receive(AppendEntries(1, follower, 1, 1, 1, (), 1))
    answers = [m for m in h.node(follower).ready().messages if isinstance(m, AppendEntriesResponse)]
    assert answers and answers[0].term == h.node(new_leader).term and not answers[0].success
    assert old.role is Role.FOLLOWER
