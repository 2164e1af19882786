"""``SlowDisks``: a hand-driven cluster whose disks finish writes only when told.

The one harness of the pipelined-writes scenarios (Raft thesis section 10.2.1:
the leader writes in parallel with replicating), for every protocol. It is the
simulator's ``Harness`` with a disk model: the disks of the servers in ``slow``
finish a write only when ``complete`` says so. Until then the write is staged
(visible to the node, not durable), its batch's early messages have left and
its other messages wait, as do the batches after it; the node hears
``persisted(write)`` in order, as the contract of ``PipelinedNode`` says. The
other disks finish at once, and the node is told at once or, for the servers
in ``unreported``, only when the test hands it ``held_reports``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from random import Random
from typing import Protocol, TypeVar

from pyconsensus.core.node import PipelinedNode
from pyconsensus.core.ready import Message, Reply, Write
from pyconsensus.core.storage import Storage
from pyconsensus.core.types import NodeId, Role
from pyconsensus.sim import Harness
from pyconsensus.sim.harness import Factory

N = TypeVar("N", bound=PipelinedNode)


class SlowDisks(Harness[N]):
    """A hand-driven cluster of pipelined nodes on slow disks (see the module)."""

    def __init__(
        self,
        factory: Factory[N],
        members: Sequence[NodeId] = (1, 2, 3),
        seed: int = 0,
        *,
        slow: Iterable[NodeId] = (),
    ) -> None:
        self.slow: set[NodeId] = set(slow)
        self.unreported: set[NodeId] = set()
        self.inflight: dict[NodeId, deque[tuple[Write | None, Sequence[Message]]]] = {}
        self.held_reports: dict[NodeId, list[Write]] = {}
        super().__init__(factory, members, seed)

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

    def complete_all(self) -> None:
        """Every disk finishes every write in flight."""
        for member in self.members:
            while member not in self.down and self.inflight[member]:
                self.complete(member)

    def crash(self, node_id: NodeId) -> None:
        super().crash(node_id)
        self.inflight[node_id] = deque()

    def all_replies(self) -> list[Reply]:
        return [reply for member in self.members for reply in self.replies[member]]

    def settle(self) -> None:
        """Deliver everything and let every disk finish, until quiet."""
        for _ in range(1_000):
            if not self.pending and not any(self.inflight[m] for m in self.members):
                return
            self.complete_all()
            self.deliver()
        raise AssertionError("the cluster did not settle")

    def elect(self, node_id: NodeId, max_ticks: int = 200) -> None:
        """Tick ``node_id`` until it leads, settling after each tick; then one
        heartbeat round (it carries the commit index)."""
        for _ in range(max_ticks):
            leads = self.node(node_id).status().role is Role.LEADER
            self.tick(node_id)
            self.settle()
            if leads:
                return
        raise AssertionError(f"node {node_id} was not elected")


C = TypeVar("C")


def all_disks_slow(
    node_class: Callable[[NodeId, Sequence[NodeId], Storage, Random, C], N], config: C
) -> SlowDisks[N]:
    """Three nodes of ``node_class`` built with ``config``, every disk slow."""

    def build(node_id: NodeId, members: Sequence[NodeId], storage: Storage, rng: Random) -> N:
        return node_class(node_id, members, storage, rng, config)

    return SlowDisks(build, slow=(1, 2, 3))


def assert_x_leaves_before_the_leaders_write(
    c: SlowDisks[N], leader: NodeId, kind: type[Message]
) -> None:
    """``leader`` proposes x: its batch writes x and sends it (as ``kind``) to
    every follower early, with nothing left to wait for the write."""
    c.node(leader).propose(b"x")
    ready = c.node(leader).ready()
    assert ready.write is not None and [e.data for e in ready.write.entries] == [b"x"]
    assert {m.dst for m in ready.early_messages} == set(c.members) - {leader}
    assert all(isinstance(m, kind) for m in ready.early_messages)
    assert ready.messages == []


def leader_1_writes_x_while_node_2_answers(
    c: SlowDisks[N], send: type[Message], answer: type[Message]
) -> None:
    """Leader 1 proposes x; its own write of x is still in flight when node 2
    has stored x and answered; the ``send`` to node 3 is lost. (Every disk slow.)"""
    c.elect(1)
    c.node(1).propose(b"x")
    c.flush(1)
    assert c.inflight[1], "the leader's write of x is in flight"
    assert any(isinstance(m, send) and m.dst == 2 for m in c.pending), (
        "the leader sent x before its own write of x was durable"
    )
    c.drop(to=3)
    c.deliver(to=2, types=send)
    c.complete(2)  # node 2's copy of x is durable; its answer leaves
    c.deliver(to=1, types=answer)


class _Durable(Protocol):
    durable: int


@contextmanager
def durable_up_to(node: _Durable, index: int) -> Iterator[None]:
    """For the block, ``node`` takes its writes up to ``index`` as durable
    before the driver said so: the mistake of the broken ``UnsyncedSelf``
    variants, which count their own unsynced copy towards a quorum."""
    durable = node.durable
    node.durable = index
    try:
        yield
    finally:
        node.durable = durable


def lone_leader(node: N) -> N:
    """``node``, the only member of its cluster, ticked until it leads."""
    while node.status().role is not Role.LEADER:
        node.tick()
    return node
