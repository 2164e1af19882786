"""A hand-driven cluster whose disks are slow: for pipelined-writes scenarios.

Shared by the Raft and Multi-Paxos tests of thesis 10.2.1 (the leader writes in
parallel with replicating). Each node's writes stay in flight - visible to the
node, not durable - until ``complete`` says its disk finished the oldest one;
early messages leave at once, the others wait for every write before them, and
the node hears ``persisted(write)`` in order, as the contract of
``PipelinedNode`` says. Messages wait in ``pending`` until delivered or dropped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from random import Random
from typing import Generic, TypeVar

from pyconsensus.core.node import PipelinedNode
from pyconsensus.core.ready import Message, Reply, Write
from pyconsensus.core.storage import MemoryStorage
from pyconsensus.core.types import Entry, NodeId, Role

N = TypeVar("N", bound=PipelinedNode)

Build = Callable[[NodeId, Sequence[NodeId], MemoryStorage, Random], N]


class SlowDiskCluster(Generic[N]):
    """Three pipelined nodes built by ``build``, driven by hand (see the module)."""

    def __init__(self, build: Build[N]) -> None:
        self.build = build
        self.members = (1, 2, 3)
        self.storages = {m: MemoryStorage() for m in self.members}
        self.nodes: dict[NodeId, N | None] = {}
        self.inflight: dict[NodeId, deque[tuple[Write | None, Sequence[Message]]]] = {}
        self.pending: list[Message] = []
        self.applied: dict[NodeId, list[Entry]] = {m: [] for m in self.members}
        self.replies: list[Reply] = []
        for member in self.members:
            self.start(member)

    def node(self, node_id: NodeId) -> N:
        node = self.nodes[node_id]
        assert node is not None, f"node {node_id} is down"
        return node

    def start(self, node_id: NodeId) -> None:
        self.nodes[node_id] = self.build(
            node_id, self.members, self.storages[node_id], Random(node_id)
        )
        self.inflight[node_id] = deque()
        self.applied[node_id] = []
        self.flush(node_id)

    def crash(self, node_id: NodeId) -> None:
        self.nodes[node_id] = None
        self.storages[node_id].crash()
        self.inflight[node_id].clear()
        self.pending = [m for m in self.pending if m.dst != node_id]

    def flush(self, node_id: NodeId) -> None:
        node = self.nodes[node_id]
        while node is not None and node.has_ready():
            ready = node.ready()
            if ready.write is not None:
                self.storages[node_id].stage(ready.write)
            self.pending.extend(ready.early_messages)
            if ready.write is not None or self.inflight[node_id]:
                self.inflight[node_id].append((ready.write, ready.messages))
            else:
                self.pending.extend(ready.messages)
            self.applied[node_id].extend(ready.committed)
            self.replies.extend(ready.replies)

    def complete(self, node_id: NodeId) -> None:
        """The node's disk finishes its oldest write in flight."""
        node = self.node(node_id)
        write, messages = self.inflight[node_id].popleft()
        if write is not None:
            self.storages[node_id].sync(1)
            node.persisted(write)
        self.pending.extend(messages)
        self.flush(node_id)

    def complete_all(self) -> None:
        for member in self.members:
            while self.nodes[member] is not None and self.inflight[member]:
                self.complete(member)

    def deliver(self, *, to: NodeId | None = None, types: type | None = None) -> None:
        chosen = [
            m
            for m in self.pending
            if (to is None or m.dst == to) and (types is None or isinstance(m, types))
        ]
        self.pending = [m for m in self.pending if m not in chosen]
        for message in chosen:
            if self.nodes[message.dst] is not None:
                self.node(message.dst).receive(message)
                self.flush(message.dst)

    def drop(self, *, to: NodeId) -> None:
        self.pending = [m for m in self.pending if m.dst != to]

    def settle(self) -> None:
        """Deliver everything and let every disk finish, until quiet."""
        for _ in range(1_000):
            if not self.pending and not any(self.inflight[m] for m in self.members):
                return
            self.complete_all()
            self.deliver()
        raise AssertionError("the cluster did not settle")

    def tick(self, node_id: NodeId) -> None:
        self.node(node_id).tick()
        self.flush(node_id)

    def elect(self, node_id: NodeId, max_ticks: int = 200) -> None:
        """Tick ``node_id`` until it leads; then one heartbeat round (it carries
        the commit index)."""
        for _ in range(max_ticks):
            if self.node(node_id).status().role is Role.LEADER:
                self.tick(node_id)
                self.settle()
                return
            self.tick(node_id)
            self.settle()
        raise AssertionError(f"node {node_id} was not elected")
