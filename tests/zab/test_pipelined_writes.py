"""Pipelined writes for ZAB: the established leader writes its history in
parallel with broadcasting it (the idea of Raft thesis section 10.2.1).

With ``ZabConfig(pipelined_writes=True)`` the leader's PROPOSALs leave before
its own write of them is durable, so the leader must not count its own
acknowledgement until the driver reports the write persisted. Otherwise, in a
3-node cluster, a commit can rest on one durable copy (a follower's) and one
that a crash loses (the leader's): the leader and the third server, which both
lack the transaction after the crash, can then establish a new epoch without
it, although a client was told it committed. Followers are unchanged: their
ACK still follows their write.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from random import Random
from typing import TypeGuard

from pyconsensus.core.node import PipelinedNode, pipelined
from pyconsensus.core.ready import Message, ProposalCommitted, Write
from pyconsensus.core.storage import MemoryStorage
from pyconsensus.core.types import NodeId
from pyconsensus.sim import Harness, RunConfig, summarize, sweep
from pyconsensus.sim.checkers.zab import SPEC, make_spec
from pyconsensus.sim.specs import get_spec
from pyconsensus.zab import (
    Ack,
    Commit,
    NewLeader,
    Ping,
    Proposal,
    Trunc,
    ZabConfig,
    ZabNode,
)
from pyconsensus.zab.leading import Leading
from tests.zab.support import serving, settle, zab_cluster

PIPELINED = ZabConfig(pipelined_writes=True)


class _CountsUnsyncedSelf(Leading):
    def maybe_commit(self) -> None:
        node = self.node
        durable = node.durable
        node.durable = node.history.last_index
        try:
            super().maybe_commit()
        finally:
            node.durable = durable


class UnsyncedSelfZab(ZabNode):
    """Broken: with pipelined writes, counts its own acknowledgement before the
    driver reported its write durable - a commit may then rest on one durable
    copy and one that a crash loses."""

    leading_class = _CountsUnsyncedSelf


class SlowDisks(Harness[ZabNode]):
    """A hand-driven cluster whose servers run with pipelined writes. The disks
    of the servers in ``slow`` finish a write only when ``complete`` says so:
    until then it is staged (visible, not durable), the batch's early messages
    have left and its other messages wait. The other disks finish at once (and
    server is told with ``persisted``, or, for the servers in ``unreported``,
    later: see ``held_reports``)."""

    def __init__(self, node_class: type[ZabNode] = ZabNode) -> None:
        self.slow: set[NodeId] = set()
        self.unreported: set[NodeId] = set()
        self.inflight: dict[NodeId, deque[tuple[Write | None, Sequence[Message]]]] = {}
        self.held_reports: dict[NodeId, list[Write]] = {}
        cluster = zab_cluster(config=PIPELINED, node_class=node_class)
        super().__init__(cluster.factory, cluster.members, cluster.seed)

    def _queue(self, messages: Sequence[Message]) -> None:
        self.pending.extend(m for m in messages if (m.src, m.dst) not in self.cut_links)

    def flush(self, *node_ids: NodeId) -> None:
        for node_id in node_ids or self.members:
            if node_id in self.down:
                continue
            node = self.nodes[node_id]
            inflight = self.inflight.setdefault(node_id, deque())
            while node.has_ready():
                ready = node.ready()
                self.readies[node_id].append(ready)
                write = ready.write
                self._queue(ready.early_messages)
                if node_id in self.slow and (write is not None or inflight):
                    if write is not None:
                        self.storages[node_id].stage(write)
                    inflight.append((write, ready.messages))
                else:
                    if write is not None:
                        self.storages[node_id].write(write)
                        self._report(node_id, write)
                    self._queue(ready.messages)
                if ready.restore is not None:
                    self.applied[node_id] = []
                self.applied[node_id].extend(ready.committed)
                self.replies[node_id].extend(ready.replies)

    def _report(self, node_id: NodeId, write: Write) -> None:
        if node_id in self.unreported:
            self.held_reports.setdefault(node_id, []).append(write)
        else:
            self.node(node_id).persisted(write)

    def complete(self, node_id: NodeId) -> None:
        """The server's disk finishes its oldest write in flight."""
        write, messages = self.inflight[node_id].popleft()
        if write is not None:
            self.storages[node_id].sync(1)
            self._report(node_id, write)
        self._queue(messages)
        self.flush(node_id)

    def crash(self, node_id: NodeId) -> None:
        super().crash(node_id)
        self.inflight[node_id] = deque()


def _leader_writes_x_while_one_follower_acknowledges(c: SlowDisks) -> tuple[NodeId, int]:
    """Leader 3 proposes x; its own write of x is still in flight when follower 2
    has stored x and acknowledged it; the PROPOSAL to follower 1 is lost."""
    assert settle(c) == 3
    c.slow.add(3)
    c.propose(3, b"x")
    index = c.node(3).history.last_index
    assert c.inflight[3], "the leader's write of x is in flight"
    assert c.drop(to=1, types=Proposal)
    assert c.deliver(to=2, types=Proposal), "x left before the leader's write was durable"
    assert c.deliver(to=3, types=Ack)
    return 3, index


def _rejoin(c: SlowDisks, node_id: NodeId, leader: NodeId) -> None:
    """Heal the network and run until ``node_id`` follows ``leader`` in its epoch."""
    c.heal()
    for _ in range(200):
        c.tick_all()
        c.stabilize()
        if c.node(node_id).current_epoch == c.node(leader).current_epoch and serving(
            c, node_id, leader
        ):
            return
    raise AssertionError(f"server {node_id} did not rejoin leader {leader}")


def _new_leader_to(message: Message, node_id: NodeId) -> TypeGuard[NewLeader]:
    return isinstance(message, NewLeader) and message.dst == node_id


def _acknowledged(c: SlowDisks, node_id: NodeId, index: int) -> bool:
    return any(isinstance(r, ProposalCommitted) and r.index == index for r in c.replies[node_id])


def test_the_leader_sends_its_proposals_before_its_own_write_is_durable() -> None:
    c = SlowDisks()
    leader = settle(c)
    c.node(leader).propose(b"x")
    ready = c.node(leader).ready()
    assert ready.write is not None and [e.data for e in ready.write.entries] == [b"x"]
    assert {m.dst for m in ready.early_messages} == {1, 2}
    assert all(isinstance(m, Proposal) for m in ready.early_messages)
    assert ready.messages == []
    # Heartbeats (and the COMMITs that follow) leave early too.
    c.node(leader).tick()
    assert all(isinstance(m, Ping) for m in c.node(leader).ready().early_messages)


def test_a_follower_still_acknowledges_only_after_its_write() -> None:
    c = SlowDisks()
    leader = settle(c)
    c.slow.add(2)
    c.propose(leader, b"x")
    c.deliver(to=2, types=Proposal)
    assert not [m for m in c.pending if isinstance(m, Ack) and m.src == 2]
    c.complete(2)
    assert [m for m in c.pending if isinstance(m, Ack) and m.src == 2]


def test_the_leader_does_not_count_its_unsynced_copy_towards_the_quorum() -> None:
    c = SlowDisks()
    leader, index = _leader_writes_x_while_one_follower_acknowledges(c)
    assert c.node(leader).commit < index, "committed on one durable copy"
    assert not _acknowledged(c, leader, index)
    c.complete(leader)  # now the leader's own copy is durable: two durable copies
    assert c.node(leader).commit == index
    assert _acknowledged(c, leader, index)
    assert c.deliver(to=2, types=Commit)
    assert [e.data for e in c.applied[2] if e.index == index] == [b"x"]


def test_a_crash_before_the_leaders_write_loses_x_but_nothing_acknowledged() -> None:
    """The scenario of the module docstring, with the correct rule: x was never
    acknowledged, so a new epoch without it breaks no promise."""
    c = SlowDisks()
    leader, index = _leader_writes_x_while_one_follower_acknowledges(c)
    c.crash(leader)  # before its disk finished writing x
    assert not _acknowledged(c, leader, index), "x's client was never told it committed"
    c.slow.clear()
    c.isolate(2)  # the only server holding x
    c.restart(leader)
    assert c.node(leader).history.last_index == index - 1, "the restarted leader lost x"
    new_leader = settle(c, among=[1, 3])
    c.propose(new_leader, b"y")
    c.stabilize()
    assert [e.data for e in c.applied[new_leader] if e.index == index] == [b"y"]
    # Server 2 comes back and is truncated: x is gone for good, as nobody was told
    # it committed.
    _rejoin(c, 2, new_leader)
    syncs = [m.sync for r in c.readies[new_leader] for m in r.messages if _new_leader_to(m, 2)]
    assert any(isinstance(sync, Trunc) for sync in syncs)
    assert [e.data for e in c.node(2).history.slice(index, index + 1)] == [b"y"]
    assert all(e.data != b"x" for m in c.members for e in c.applied[m])


def test_counting_the_unsynced_copy_acknowledges_x_on_one_durable_copy() -> None:
    c = SlowDisks(UnsyncedSelfZab)
    leader, index = _leader_writes_x_while_one_follower_acknowledges(c)
    assert _acknowledged(c, leader, index), "x acknowledged to the client..."
    c.crash(leader)
    assert c.storages[leader].last_index() == index - 1, "...although a crash loses it"


def test_persisted_ignores_a_write_whose_transactions_were_replaced_since() -> None:
    """Server 1's disk wrote y, but the driver reports it late: by then a new
    epoch's TRUNC has replaced y by z, and the report must not vouch for z."""
    c = SlowDisks()
    old = settle(c)
    c.propose(old, b"x")
    c.stabilize()
    c.unreported.add(1)  # from now on server 1 hears of its writes only when we say
    c.slow.add(old)
    c.propose(old, b"y")
    index = c.node(old).history.last_index
    c.drop(to=2, types=Proposal)
    c.deliver(to=1, types=Proposal)
    c.crash(old)  # the old leader never wrote y
    c.slow.clear()
    c.isolate(1)
    c.restart(old)
    new = settle(c, among=[2, 3])
    c.propose(new, b"z")
    c.stabilize()
    _rejoin(c, 1, new)
    follower = c.node(1)
    assert [e.data for e in follower.history.slice(index, index + 1)] == [b"z"]
    late, *later = c.held_reports[1]
    assert [e.data for e in late.entries] == [b"y"]
    assert follower.durable == index - 1
    follower.persisted(late)
    assert follower.durable == index - 1, "y is no longer in the history"
    for write in later:
        follower.persisted(write)
    assert follower.durable == follower.history.last_index


def test_without_the_option_nothing_changes() -> None:
    c = zab_cluster()
    leader = settle(c)
    node = c.node(leader)
    assert not pipelined(node)
    assert isinstance(node, PipelinedNode) and not node.pipelined_writes
    node.propose(b"x")
    ready = node.ready()
    assert ready.early_messages == []
    assert {type(m) for m in ready.messages} == {Proposal}


def test_the_option_reaches_zab_through_the_registry() -> None:
    spec = get_spec("zab").with_options({"pipelined_writes": "true"})
    node = spec.factory(1, (1, 2, 3), MemoryStorage(), Random(0))
    assert isinstance(node, ZabNode) and pipelined(node)


def test_two_hundred_seeds_with_pipelined_writes_and_every_fault_kind() -> None:
    """The simulator pipelines the writes of a PipelinedNode: each takes a random
    disk delay while the server goes on, early messages leave at once, and
    ``CrashMidWrite`` loses a write after its early messages left."""
    spec = make_spec(PIPELINED)
    result = sweep(spec, range(200), RunConfig())
    assert [str(f.violation) for f in result.failures] == []
    stats = result.stats
    assert stats.lost_writes > 0 and stats.crashes > 200
    assert stats.proposals_acked > 100 * 200


def test_a_hundred_seeds_of_every_nemesis_stay_linearizable_with_pipelined_writes() -> None:
    spec = make_spec(PIPELINED)
    seeds = range(100)
    config = RunConfig(workload="kv", check_linearizability=True, nemesis=("all",))
    result = sweep(spec, seeds, config)
    assert result.ok, summarize(result, spec.properties)
    assert result.histories_checked == len(seeds) and result.checks_unknown == 0
    stats = result.stats
    assert stats.crashes > len(seeds) and stats.lost_writes > 0
    assert stats.ops_ok > 100 * len(seeds)


def test_the_sweep_catches_a_leader_counting_its_unsynced_copy() -> None:
    broken = make_spec(PIPELINED, node_class=UnsyncedSelfZab)
    result = sweep(broken, range(20), RunConfig(), stop_on_failure=True)
    assert result.failures, "the checkers missed a commit resting on an unsynced copy"
    violation = result.failures[0].violation
    assert violation is not None and violation.property == "Durable Quorum"
    # The same seeds pass with the correct rule, pipelined or not.
    assert sweep(make_spec(PIPELINED), result.seeds, RunConfig()).ok
    assert sweep(SPEC, result.seeds, RunConfig()).ok
