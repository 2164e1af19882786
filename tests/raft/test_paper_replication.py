"""Section 5.3 of the Raft paper: log replication, plus the flow control and
batching that make it fast (probe/replicate states, in-flight limits)."""

from __future__ import annotations

from pyconsensus.core.ready import ProposalCommitted, Write
from pyconsensus.core.storage import MemoryStorage
from pyconsensus.core.types import Entry, EntryKind, Role
from pyconsensus.raft import (
    AppendEntries,
    AppendEntriesResponse,
    Heartbeat,
    HeartbeatResponse,
    ProgressState,
    RaftNode,
)
from pyconsensus.raft.node import TERM_KEY
from pyconsensus.sim.harness import Harness
from tests.raft.support import PAPER, cluster, elected, terms


def test_new_leader_appends_a_noop_of_its_term() -> None:
    """Section 8: a leader commits a blank no-op entry at the start of its term."""
    h = cluster(3)
    h.elect(1)
    entry = h.node(1).log.entries[-1]
    assert (entry.index, entry.term, entry.kind) == (1, 1, EntryKind.NOOP)


def test_leader_commits_an_entry_once_a_majority_stores_it() -> None:
    """A log entry is committed once the leader that created it has replicated
    it on a majority of the servers; the leader then applies it and replies."""
    h = elected(3)
    rid = h.propose(1, b"x")
    h.deliver(types=AppendEntries, to=2)
    h.drop(types=AppendEntries, to=3)  # node 3 never gets it: 2 of 3 suffice
    h.deliver(types=AppendEntriesResponse)
    assert h.node(1).commit == 2
    assert h.applied[1][-1].data == b"x"
    assert ProposalCommitted(rid, 2) in h.replies[1]


def test_leader_does_not_commit_without_a_majority() -> None:
    h = elected(5)
    h.propose(1, b"x")
    h.deliver(types=AppendEntries, to=2)
    h.drop(types=AppendEntries)
    h.deliver(types=AppendEntriesResponse)
    assert h.node(1).commit == 1  # only the no-op


def test_followers_apply_entries_once_they_learn_the_commit_index() -> None:
    """Once a follower learns that a log entry is committed, it applies the
    entry to its local state machine (in log order)."""
    h = elected(3)
    h.propose(1, b"x")
    h.stabilize()
    assert [e.data for e in h.applied[2]] == [b"", b"x"]
    assert [e.data for e in h.applied[3]] == [b"", b"x"]


def test_follower_stores_entries_before_acknowledging_them() -> None:
    """The follower's success response travels in the same batch as the write
    of the entries it acknowledges, so it is sent only after they are durable."""
    h = elected(3)
    h.propose(1, b"x")
    message = h.drop(types=AppendEntries, to=2)[0]
    follower = h.node(2)
    follower.receive(message)
    ready = follower.ready()
    assert any(isinstance(m, AppendEntriesResponse) and m.success for m in ready.messages)
    assert ready.write is not None
    assert [e.data for e in ready.write.entries] == [b"x"]


def test_follower_refuses_entries_that_do_not_follow_its_log() -> None:
    """The consistency check: if the follower has no entry matching prevLogIndex
    and prevLogTerm, it refuses the new entries - and says where its log ends."""
    h = elected(3)
    follower = h.node(2)
    follower.receive(AppendEntries(1, 2, 1, prev_index=5, prev_term=1, entries=(), commit=1))
    response = follower.ready().messages[0]
    assert isinstance(response, AppendEntriesResponse)
    assert (response.success, response.index) == (False, 5)
    assert (response.conflict_index, response.conflict_term) == (2, 0)
    assert follower.log.last_index == 1


def test_follower_deletes_a_conflicting_suffix_and_takes_the_leaders_entries() -> None:
    """If an existing entry conflicts with a new one (same index, different
    term), the follower deletes it and all that follow it."""
    h = elected(3, **PAPER)
    h.isolate(1)
    h.propose(1, b"lost-1")
    h.propose(1, b"lost-2")  # the old leader's uncommitted suffix: [1, 1, 1]
    h.heal()
    h.isolate(1)
    h.elect(2)  # term 2, node 2's log is [1, 2]
    h.propose(2, b"kept")
    h.heal()
    h.tick(2)
    h.stabilize()
    assert terms(h.node(1)) == [1, 2, 2]
    assert [e.data for e in h.node(1).log.entries] == [b"", b"", b"kept"]
    assert h.storages[1].entries(1, 10) == h.node(1).log.entries


def test_follower_keeps_its_log_when_an_append_is_duplicated() -> None:
    """Entries already present are never deleted by a duplicated or delayed
    AppendEntries: only a conflict truncates."""
    h = elected(3)
    h.propose(1, b"a")
    first = h.deliver(types=AppendEntries, to=2)[0]
    h.propose(1, b"b")
    h.deliver(types=AppendEntries, to=2)  # the follower now holds a and b
    h.node(2).receive(first)  # the first message arrives a second time
    assert [e.data for e in h.node(2).log.entries] == [b"", b"a", b"b"]


def _restart_with_log(h: Harness[RaftNode], node: int, term: int, log_terms: list[int]) -> None:
    """Replace a node's durable state, as if it had crashed holding this log."""
    entries = [Entry(i, t, b"%d@%d" % (i, t)) for i, t in enumerate(log_terms, start=1)]
    h.crash(node)
    h.storages[node] = MemoryStorage()
    h.storages[node].write(Write(metadata={TERM_KEY: term}, entries=entries))
    h.restart(node)


def test_leader_backs_up_a_whole_term_per_rejection() -> None:
    """With the conflict hints, the leader skips every entry of a conflicting
    term in one round trip instead of one entry at a time."""
    h = cluster(3, **PAPER)
    _restart_with_log(h, 1, 2, [1] + [2] * 20)
    _restart_with_log(h, 2, 3, [1] + [3] * 20)
    _restart_with_log(h, 3, 3, [1] + [3] * 20)
    h.elect(2)
    assert terms(h.node(1)) == [1] + [3] * 20 + [4]
    rejections = [
        m
        for ready in h.readies[1]
        for m in ready.messages
        if isinstance(m, AppendEntriesResponse) and not m.success
    ]
    assert len(rejections) == 1
    assert (rejections[0].conflict_term, rejections[0].conflict_index) == (2, 2)


def test_leader_streams_appends_without_waiting_in_replicate_state() -> None:
    """Once a follower is known to match, the leader pipelines AppendEntries
    (one per batch of proposals) up to the in-flight limit."""
    h = elected(3, max_inflight=3)
    progress = h.node(1).progress[2]
    assert progress.state is ProgressState.REPLICATE
    for i in range(5):
        h.propose(1, b"p%d" % i)
    to_two = [m for m in h.pending if isinstance(m, AppendEntries) and m.dst == 2]
    assert [len(m.entries) for m in to_two] == [1, 1, 1]  # the limit, not five
    assert len(progress.inflight) == 3
    h.deliver(types=AppendEntries, to=2)
    h.deliver(types=AppendEntriesResponse, src=2)  # acknowledgements free the window
    h.deliver(types=AppendEntries, to=2)
    assert h.node(2).log.last_index == 6


def test_leader_sends_one_probe_at_a_time_while_the_match_is_unknown() -> None:
    h = cluster(3)
    h.elect(1)
    assert h.node(1).progress[2].state is ProgressState.REPLICATE
    h.node(1).progress[2].become_probe()
    h.propose(1, b"a")
    h.propose(1, b"b")
    probes = [m for m in h.pending if isinstance(m, AppendEntries) and m.dst == 2]
    assert len(probes) == 1
    assert h.node(1).progress[2].paused


def test_proposals_between_two_batches_travel_in_one_append() -> None:
    """Proposal batching: everything proposed before the driver asks for the
    next batch goes out in a single AppendEntries per follower."""
    h = elected(3)
    leader = h.node(1)
    for i in range(100):
        leader.propose(b"%d" % i)
    h.flush(1)
    appends = [m for m in h.pending if isinstance(m, AppendEntries) and m.dst == 2]
    assert [len(m.entries) for m in appends] == [100]


def test_a_lost_append_is_resent_after_the_follower_keeps_answering_heartbeats() -> None:
    """If appends go unanswered while heartbeats are answered, the message was
    lost: the leader falls back to probing and resends from the match index."""
    h = elected(3)
    h.propose(1, b"x")
    h.drop(types=AppendEntries)  # lost on the way to both followers
    for _ in range(5):
        h.tick(1)
        h.deliver(types=Heartbeat)
        h.deliver(types=HeartbeatResponse)
        h.stabilize()
    assert [e.data for e in h.node(2).log.entries] == [b"", b"x"]
    assert h.node(1).counters["append.stalled"] == 2
    assert h.node(1).commit == 2


def test_commit_index_reaches_followers_even_without_new_entries() -> None:
    h = elected(3)
    h.propose(1, b"x")
    h.stabilize()
    assert [h.node(m).commit for m in h.members] == [2, 2, 2]


def test_without_commit_broadcast_the_commit_index_waits_for_the_next_append_or_heartbeat() -> None:
    """``broadcast_commit=False``: no empty AppendEntries just to spread a new
    commit index - a lone write costs two appends and two answers, and the
    followers learn the commit with the next append or heartbeat."""
    h = elected(3, broadcast_commit=False)
    appends_before = _appends_sent(h, 1)
    h.propose(1, b"x")
    h.stabilize()
    assert h.node(1).commit == 2  # the write is committed (and answered) all the same
    assert [h.node(m).commit for m in (2, 3)] == [1, 1]
    assert _appends_sent(h, 1) - appends_before == 2
    h.propose(1, b"y")  # the next append carries the commit of "x"
    h.flush(1)
    carried = [m.commit for m in h.pending if isinstance(m, AppendEntries)]
    assert carried == [2, 2]
    h.stabilize()
    h.tick(1)  # and a heartbeat carries the commit of "y"
    h.stabilize()
    assert [h.node(m).commit for m in h.members] == [3, 3, 3]


def test_with_commit_broadcast_an_empty_append_spreads_the_commit_at_once() -> None:
    h = elected(3)
    appends_before = _appends_sent(h, 1)
    h.propose(1, b"x")
    h.stabilize()
    assert [h.node(m).commit for m in h.members] == [2, 2, 2]
    assert _appends_sent(h, 1) - appends_before == 4


def _appends_sent(h: Harness[RaftNode], node_id: int) -> int:
    return sum(
        isinstance(message, AppendEntries)
        for ready in h.readies[node_id]
        for message in ready.messages
    )


def test_only_the_leader_accepts_proposals() -> None:
    h = elected(3)
    assert h.node(2).role is Role.FOLLOWER
    h.propose(2, b"x")
    failure = h.replies[2][-1]
    assert getattr(failure, "error", None) is not None
    assert failure.error.leader_hint == 1  # type: ignore[union-attr]
