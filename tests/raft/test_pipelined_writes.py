"""Thesis section 10.2.1: the leader writes its log in parallel with replicating it.

With ``RaftConfig(pipelined_writes=True)`` the leader's AppendEntries leave before
its own write is durable, so the leader must not count its own copy towards the
commit quorum until the driver reports it persisted. Otherwise, in a 3-node
cluster, a commit can rest on one durable copy (a follower's) and one that a
crash loses (the leader's): the third node can then win an election with the
restarted leader's vote and overwrite an entry that was acknowledged to a client.
"""

from __future__ import annotations

from random import Random

from pyconsensus.core.node import PipelinedNode, pipelined
from pyconsensus.core.ready import ProposalCommitted
from pyconsensus.core.storage import MemoryStorage
from pyconsensus.core.types import Entry, EntryKind
from pyconsensus.raft import (
    AppendEntries,
    AppendEntriesResponse,
    Heartbeat,
    RaftConfig,
    RaftNode,
)
from tests.raft.broken import UnsyncedSelfRaft
from tests.slow_disks import (
    SlowDisks,
    all_disks_slow,
    assert_x_leaves_before_the_leaders_write,
    leader_1_writes_x_while_node_2_answers,
    lone_leader,
)

PIPELINED = RaftConfig(pipelined_writes=True)
SlowDiskCluster = SlowDisks[RaftNode]


def slow_disks(node_class: type[RaftNode] = RaftNode) -> SlowDiskCluster:
    """Three pipelined Raft nodes whose disks are all slow."""
    return all_disks_slow(node_class, PIPELINED)


def _leader_writes_x_while_one_follower_acknowledges(c: SlowDiskCluster) -> int:
    """Leader 1 proposes x; its own write of x is still in flight when follower 2
    has stored x and acknowledged it; the AppendEntries to follower 3 is lost."""
    leader_1_writes_x_while_node_2_answers(c, AppendEntries, AppendEntriesResponse)
    return c.node(1).log.last_index


def test_a_leader_sends_its_entries_before_its_own_write_is_durable() -> None:
    c = slow_disks()
    c.elect(1)
    assert_x_leaves_before_the_leaders_write(c, 1, AppendEntries)


def test_the_leader_does_not_count_its_unsynced_copy_towards_the_commit_quorum() -> None:
    c = slow_disks()
    index = _leader_writes_x_while_one_follower_acknowledges(c)
    assert c.node(1).commit < index, "committed on one durable copy"
    assert not any(isinstance(r, ProposalCommitted) for r in c.all_replies())
    c.complete(1)  # now the leader's own copy is durable: two durable copies
    assert c.node(1).commit == index
    assert any(isinstance(r, ProposalCommitted) and r.index == index for r in c.all_replies())


def test_a_crash_before_the_leaders_write_loses_x_but_nothing_acknowledged() -> None:
    """The scenario of the module docstring, with the correct rule: x was never
    acknowledged, so node 3 overwriting it breaks no promise."""
    c = slow_disks()
    index = _leader_writes_x_while_one_follower_acknowledges(c)
    c.drop(to=3)  # node 3 hears nothing more from node 1
    c.crash(1)  # before its disk finished writing x
    c.restart(1)
    assert c.node(1).log.last_index == index - 1, "the restarted leader lost x"
    c.elect(3)  # with node 1's vote: their logs are equally long
    assert c.node(3).log.term_at(index) == c.node(3).term  # its no-op took x's place
    committed = {e.index: e for member in c.members for e in c.applied[member]}
    assert committed[index].kind is EntryKind.NOOP
    assert not any(isinstance(r, ProposalCommitted) for r in c.all_replies())


def test_counting_the_unsynced_copy_lets_a_crash_overwrite_an_acknowledged_entry() -> None:
    """The same scenario with the broken rule: x is acknowledged to the client
    and applied by node 2, then lost with the leader's write, and node 3 - elected
    with the restarted leader's vote - commits its no-op at x's index."""
    c = slow_disks(UnsyncedSelfRaft)
    index = _leader_writes_x_while_one_follower_acknowledges(c)
    c.flush(1)
    assert any(isinstance(r, ProposalCommitted) and r.index == index for r in c.all_replies())
    # The commit index reaches follower 2 (a heartbeat is an early message).
    c.tick(1)
    c.deliver(to=2, types=Heartbeat)
    c.deliver(to=2, types=AppendEntries)
    while c.inflight[2]:
        c.complete(2)
    assert [e.data for e in c.applied[2] if e.index == index] == [b"x"]
    assert c.inflight[1], "the leader's write of x is still in flight"
    c.drop(to=3)  # node 3 hears nothing more from node 1
    c.crash(1)
    c.restart(1)
    assert c.node(1).log.last_index == index - 1, "the restarted leader lost x"
    c.elect(3)  # with node 1's vote: their logs are equally long
    node3_entry = c.node(3).log.slice(index, index + 1)[0]
    assert node3_entry.kind is EntryKind.NOOP, "x, acknowledged, was overwritten"
    # State Machine Safety is broken: two nodes applied different entries at index.
    assert [e.kind for e in c.applied[3] if e.index == index] == [EntryKind.NOOP]
    assert [e.data for e in c.applied[2] if e.index == index] == [b"x"]


def test_persisted_ignores_a_write_whose_entries_were_replaced_since() -> None:
    storage = MemoryStorage()
    node = RaftNode(2, [1, 2, 3], storage, Random(0), PIPELINED)
    old = (Entry(1, 1, b"a"), Entry(2, 1, b"b"))
    node.receive(AppendEntries(1, 2, 1, 0, 0, old, 0))
    first = node.ready().write
    # A new leader of term 2 replaces entry 2 before the first write is reported.
    node.receive(AppendEntries(3, 2, 2, 1, 1, (Entry(2, 2, b"c"),), 0))
    second = node.ready().write
    assert first is not None and second is not None
    node.persisted(first)
    assert node.durable == 0, "entry (2, term 1) is no longer in the log"
    node.persisted(second)
    assert node.durable == 2


def test_a_single_node_commits_only_once_its_write_is_persisted() -> None:
    node = lone_leader(RaftNode(1, [1], MemoryStorage(), Random(0), PIPELINED))
    first = node.ready()  # the no-op
    assert first.write is not None and not first.committed
    node.persisted(first.write)
    assert [e.kind for e in node.ready().committed] == [EntryKind.NOOP]


def test_without_the_option_nothing_changes() -> None:
    node = RaftNode(1, [1], MemoryStorage(), Random(0))
    assert not pipelined(node)
    assert isinstance(node, PipelinedNode) and not node.pipelined_writes
    lone_leader(node)
    ready = node.ready()
    assert [e.kind for e in ready.committed] == [EntryKind.NOOP]
    assert ready.early_messages == []
