"""Section 5.2 of the Raft paper: leader election.

Each test is one rule, stated in its name and its docstring, shown on a
hand-driven cluster. PreVote is switched off here unless a test is about it,
so that elections follow the paper's original rules.
"""

from __future__ import annotations

import random

import pytest

from pyconsensus.core.errors import ConfigError
from pyconsensus.core.storage import MemoryStorage
from pyconsensus.core.types import Role
from pyconsensus.raft import (
    AppendEntries,
    Heartbeat,
    RaftConfig,
    RequestVote,
    RequestVoteResponse,
)
from pyconsensus.raft.node import TERM_KEY, VOTE_KEY
from tests.raft.support import PAPER, cluster, elected, raft_factory


def test_servers_start_as_followers_in_term_zero() -> None:
    """When servers start up, they begin as followers."""
    h = cluster(3, **PAPER)
    for member in h.members:
        status = h.node(member).status()
        assert (status.role, status.term, status.leader) == (Role.FOLLOWER, 0, None)


def test_follower_that_hears_nothing_starts_an_election() -> None:
    """A follower that receives no communication over the election timeout
    increments its term, votes for itself and asks every other server for a vote."""
    h = cluster(3, **PAPER)
    node = h.node(1)
    for _ in range(2 * node.config.election_ticks):
        h.tick(1)
        if node.role is Role.CANDIDATE:
            break
    assert (node.role, node.term, node.voted_for) == (Role.CANDIDATE, 1, 1)
    requests = h.drop(src=1, types=RequestVote)
    assert sorted(m.dst for m in requests) == [2, 3]
    assert all(isinstance(m, RequestVote) and m.term == 1 and not m.pre_vote for m in requests)


def test_election_timeouts_are_randomized_within_one_to_two_election_timeouts() -> None:
    """Raft uses randomized election timeouts so that split votes are rare."""
    config = RaftConfig(election_ticks=10, **PAPER)
    timeouts = set()
    for seed in range(40):
        h = cluster(1, seed=seed, election_ticks=10, **PAPER)
        node = h.node(1)
        ticks = 0
        while node.role is not Role.LEADER:
            h.tick(1)
            ticks += 1
        timeouts.add(ticks)
    assert min(timeouts) >= config.election_ticks
    assert max(timeouts) < 2 * config.election_ticks
    assert len(timeouts) > 3


def test_candidate_that_wins_a_majority_becomes_leader() -> None:
    """A candidate wins an election if it receives votes from a majority."""
    h = cluster(5, **PAPER)
    h.elect(1)
    assert h.node(1).role is Role.LEADER
    assert all(h.node(m).leader == 1 for m in h.members)


def test_each_server_votes_for_at_most_one_candidate_per_term() -> None:
    """Each server votes for at most one candidate in a given term,
    on a first-come-first-served basis."""
    h = cluster(3, **PAPER)
    h.node(3).receive(RequestVote(1, 3, term=1, last_index=0, last_term=0))
    h.node(3).receive(RequestVote(2, 3, term=1, last_index=0, last_term=0))
    h.flush(3)
    answers = h.drop(src=3, types=RequestVoteResponse)
    assert [(m.dst, m.granted) for m in answers if isinstance(m, RequestVoteResponse)] == [
        (1, True),
        (2, False),
    ]
    assert h.node(3).voted_for == 1


def test_a_vote_is_durable_before_it_is_granted() -> None:
    """The vote must be on stable storage before the response leaves the server:
    the batch that carries the grant also carries the write of the vote."""
    h = cluster(3, **PAPER)
    h.node(2).receive(RequestVote(1, 2, term=4, last_index=0, last_term=0))
    ready = h.node(2).ready()
    assert any(isinstance(m, RequestVoteResponse) and m.granted for m in ready.messages)
    assert ready.write is not None
    assert ready.write.metadata == {TERM_KEY: 4, VOTE_KEY: 1}


def test_a_restarted_server_remembers_its_vote() -> None:
    """votedFor is persistent state: a server that crashes after voting
    cannot vote for someone else in the same term."""
    h = cluster(3, **PAPER)
    h.node(3).receive(RequestVote(1, 3, term=1, last_index=0, last_term=0))
    h.flush(3)
    h.crash(3)
    h.restart(3)
    assert (h.node(3).term, h.node(3).voted_for) == (1, 1)
    h.node(3).receive(RequestVote(2, 3, term=1, last_index=0, last_term=0))
    h.flush(3)
    answer = h.drop(src=3, types=RequestVoteResponse)[-1]
    assert isinstance(answer, RequestVoteResponse) and not answer.granted


def test_candidate_steps_down_when_another_leader_of_its_term_appears() -> None:
    """If a candidate receives AppendEntries from a leader whose term is at
    least its own, it recognizes the leader and returns to follower state."""
    h = cluster(3, **PAPER)
    node = h.node(2)
    while node.role is not Role.CANDIDATE:
        h.tick(2)
    h.drop(src=2)
    node.receive(AppendEntries(1, 2, node.term, 0, 0, (), 0))
    assert (node.role, node.leader) == (Role.FOLLOWER, 1)


def test_split_vote_leads_to_a_new_election_in_a_higher_term() -> None:
    """If no candidate wins, each times out and starts a new election by
    incrementing its term."""
    h = cluster(3, **PAPER)
    node = h.node(1)
    while node.role is not Role.CANDIDATE:
        h.tick(1)
    first_term = node.term
    h.drop(src=1)  # nobody hears the requests
    while node.term == first_term:
        h.tick(1)
    assert (node.role, node.term) == (Role.CANDIDATE, first_term + 1)


def test_leader_sends_heartbeats_to_keep_its_authority() -> None:
    """Leaders send periodic heartbeats to all followers to maintain authority."""
    h = elected(3, **PAPER)
    h.tick(1)
    beats = h.drop(src=1, types=Heartbeat)
    assert sorted(m.dst for m in beats) == [2, 3]
    # Followers that keep hearing heartbeats never start an election.
    for _ in range(50):
        h.tick_all()
        h.stabilize()
    assert [h.node(m).role for m in h.members] == [Role.LEADER, Role.FOLLOWER, Role.FOLLOWER]
    assert h.node(1).term == 1


def test_server_that_sees_a_higher_term_becomes_follower() -> None:
    """If a server's current term is smaller than another's, it updates its
    term; a leader or candidate reverts to follower."""
    h = elected(3, **PAPER)
    leader = h.node(1)
    leader.receive(RequestVote(3, 1, term=7, last_index=99, last_term=1))
    assert (leader.role, leader.term) == (Role.FOLLOWER, 7)


def test_requests_with_a_stale_term_are_rejected() -> None:
    """If a server receives a request with a stale term number, it rejects it."""
    h = elected(3, **PAPER)
    h.node(2).receive(RequestVote(3, 2, term=0, last_index=5, last_term=0))
    assert h.node(2).counters["ignored.stale_term"] == 1
    assert h.node(2).voted_for == 1


def test_single_server_cluster_elects_itself() -> None:
    h = cluster(1, **PAPER)
    h.elect(1)
    assert h.node(1).status().commit_index == 1  # its no-op committed alone


def test_factory_rejects_a_node_outside_the_membership() -> None:
    with pytest.raises(ConfigError, match="not among the members"):
        raft_factory()(9, [1, 2, 3], MemoryStorage(), random.Random(0))
