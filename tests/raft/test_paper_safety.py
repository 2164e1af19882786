"""Section 5.4 of the Raft paper: the election restriction and the commitment
rule, including the Figure 8 scenario that motivates it."""

from __future__ import annotations

from collections.abc import Sequence
from random import Random
from typing import Any

from pyconsensus.core.storage import Storage
from pyconsensus.core.types import Entry, Role
from pyconsensus.raft import (
    AppendEntries,
    AppendEntriesResponse,
    Heartbeat,
    HeartbeatResponse,
    RaftConfig,
    RequestVote,
    RequestVoteResponse,
)
from pyconsensus.sim.harness import Harness
from tests.raft.broken import Figure8Raft
from tests.raft.support import PAPER, cluster, elected, terms


def _vote(h_node_log: list[int], candidate_last: tuple[int, int]) -> bool:
    """Ask a fresh follower holding ``h_node_log`` (terms) to vote for a candidate
    whose last entry is ``candidate_last`` = (index, term)."""
    h = cluster(3, **PAPER)
    follower = h.node(2)
    follower.log.append([Entry(i, t) for i, t in enumerate(h_node_log, start=1)])
    follower.term = max(h_node_log, default=0)
    index, term = candidate_last
    follower.receive(RequestVote(1, 2, follower.term + 1, last_index=index, last_term=term))
    (answer,) = follower.ready().messages
    assert isinstance(answer, RequestVoteResponse)
    return answer.granted


def test_vote_denied_to_a_candidate_whose_last_term_is_older() -> None:
    """The voter denies its vote if its own log is more up-to-date: logs whose
    last entries have different terms compare by term."""
    assert not _vote([1, 2], candidate_last=(5, 1))


def test_vote_denied_to_a_candidate_with_a_shorter_log_of_the_same_last_term() -> None:
    """If the logs end with the same term, the longer log is more up-to-date."""
    assert not _vote([1, 1, 1], candidate_last=(2, 1))


def test_vote_granted_to_a_candidate_at_least_as_up_to_date() -> None:
    assert _vote([1, 1], candidate_last=(2, 1))
    assert _vote([1, 1], candidate_last=(1, 2))


def test_a_node_missing_committed_entries_cannot_become_leader() -> None:
    """Leader Completeness follows: a candidate that lacks a committed entry
    cannot gather a majority."""
    h = elected(3, **PAPER)
    h.isolate(3)
    h.propose(1, b"committed")
    h.stabilize()
    assert h.node(1).commit == 2
    h.heal()
    h.isolate(1)
    node3 = h.node(3)
    for _ in range(10 * node3.config.election_ticks):
        h.tick(3)
        h.stabilize()
    assert node3.role is not Role.LEADER
    h.elect(2)  # node 2 holds the entry and wins
    assert [e.data for e in h.node(3).log.entries][-2] == b"committed"


def _win_election_quietly(h: Harness[Any], node_id: int) -> None:
    """Elect ``node_id`` delivering only votes: its first appends never leave."""
    node = h.node(node_id)
    while node.role is not Role.LEADER:
        h.tick(node_id)
        h.deliver(types=(RequestVote, RequestVoteResponse))
    h.drop(src=node_id)


def _x_reaches_node_2_only_then_node_5_wins_term_2_and_crashes(h: Harness[Any]) -> None:
    """Figure 8 (a) and (b)."""
    # (a) Leader 1 replicates X (term 1, index 2) to node 2 only, then crashes.
    h.propose(1, b"X")
    h.deliver(types=AppendEntries, to=2)
    h.drop()
    h.crash(1)
    # (b) Node 5 wins term 2 with votes from nodes 3 and 4 and appends its
    #     no-op at index 2, but crashes before replicating it.
    h.cut(5, 2)
    _win_election_quietly(h, 5)
    h.crash(5)
    h.heal()


def test_figure_8_an_old_term_entry_on_a_majority_is_not_committed() -> None:
    """A leader may not conclude that an entry from a previous term is committed
    once it is stored on a majority (Figure 8): a server whose log ends in a
    newer term could still be elected and overwrite it."""
    h = cluster(5, max_entries_per_message=1, **PAPER)
    h.elect(1)  # term 1; everybody holds the no-op at index 1
    h.tick(1)
    h.stabilize()

    _x_reaches_node_2_only_then_node_5_wins_term_2_and_crashes(h)
    assert [terms(h.node(m)) for m in (2, 3, 4)] == [[1, 1], [1], [1]]

    # (c) Node 1 restarts and wins term 3 with nodes 2 and 3. Its first
    #     append to node 3 carries only X (one entry per message), so X is
    #     on a majority (1, 2, 3) while the term-3 no-op is on node 1 alone.
    h.restart(1)
    h.isolate(4)
    _win_election_quietly(h, 1)
    leader = h.node(1)
    assert leader.term == 3
    leader.progress[3].next = 2  # resume the probe where node 3's log ends
    h.tick(1)
    h.deliver(types=Heartbeat, to=3)
    h.deliver(types=HeartbeatResponse, src=3)  # the answer unpauses the probe
    h.deliver(types=AppendEntries, to=3)
    h.deliver(types=AppendEntriesResponse, src=3)
    h.drop()
    assert [h.node(m).log.term_at(2) for m in (1, 2, 3)] == [1, 1, 1]
    assert leader.progress[3].match == 2
    assert leader.commit < 2  # X is NOT committed: no term-3 entry is on a majority

    # (d) Why: node 5 (log ends in term 2) can still win with nodes 3 and 4
    #     and replace X with its own entry.
    h.crash(1)
    h.heal()
    h.restart(5)
    h.cut(5, 2)
    h.elect(5)
    assert h.node(3).log.term_at(2) == 2
    assert h.node(5).term == 4


def test_old_term_entries_commit_indirectly_with_a_current_term_entry() -> None:
    """Once an entry of the current term commits, all prior entries commit
    indirectly (Log Matching)."""
    h = elected(3, **PAPER)
    h.isolate(1)
    h.propose(1, b"old")  # term 1, only on node 1
    h.heal()
    h.isolate(2)
    h.isolate(3)
    h.heal()
    h.crash(2)
    h.crash(3)
    h.restart(2)
    h.restart(3)
    # Node 1 steps down and wins again in a later term; its no-op commits "old".
    h.node(1).receive(RequestVote(2, 1, 5, 0, 0))
    h.flush(1)
    h.drop()
    h.elect(1)
    leader = h.node(1)
    assert leader.term == 6
    assert [e.data for e in h.applied[1]] == [b"", b"old", b""]


def test_figure_8_the_broken_commitment_rule_commits_x_in_the_same_scenario() -> None:
    """The same moves as above, against a leader that counts replicas of
    old-term entries: it does commit X - which node 5 could later overwrite."""

    def build(node_id: int, members: Sequence[int], storage: Storage, rng: Random) -> Figure8Raft:
        return Figure8Raft(node_id, members, storage, rng, RaftConfig(**PAPER))

    h = Harness(build, range(1, 6))
    h.elect(1)  # this variant appends no no-op
    h.propose(1, b"seed")
    h.tick(1)
    h.stabilize()
    _x_reaches_node_2_only_then_node_5_wins_term_2_and_crashes(h)
    h.restart(1)
    h.isolate(4)
    _win_election_quietly(h, 1)  # term 3: nodes 1, 2 and 3
    h.tick(1)
    h.stabilize()
    leader = h.node(1)
    assert leader.log.term_at(2) == 1
    assert leader.commit == 2  # X counted as committed: unsafe (Figure 8 (c))
