"""``Harness``: drive a few nodes by hand, one message at a time.

Where ``Simulation`` plays out whole runs on virtual time, the harness does
nothing unless asked: messages wait in ``pending`` until delivered or dropped,
and nodes tick only when told. Scenario tests use it to reproduce exactly the
situations a protocol paper describes::

    h = Harness(raft_factory, members=[1, 2, 3])
    h.elect(1)
    h.propose(1, b"x")
    h.deliver(types=AppendEntries)        # followers receive the entry...
    h.drop(types=AppendEntriesResponse)   # ...but the leader never hears back
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from random import Random
from typing import Generic, TypeVar

from pyconsensus.core.errors import SnapshotRejected
from pyconsensus.core.membership import membership_at
from pyconsensus.core.node import ConsensusNode
from pyconsensus.core.ready import Message, Ready, Reply
from pyconsensus.core.snapshots import SnapshotMeta, install_and_open, write_snapshot
from pyconsensus.core.storage import MemoryStorage, Storage
from pyconsensus.core.types import Entry, NodeId, RequestId, Role

N = TypeVar("N", bound=ConsensusNode)

Factory = Callable[[NodeId, Sequence[NodeId], Storage, Random], N]


class Harness(Generic[N]):
    """A hand-driven cluster of ``members`` built by ``factory``."""

    def __init__(self, factory: Factory[N], members: Sequence[NodeId], seed: int = 0) -> None:
        self.factory = factory
        self.members = tuple(members)
        self.seed = seed
        self.storages: dict[NodeId, MemoryStorage] = {m: MemoryStorage() for m in self.members}
        self.incarnation: dict[NodeId, int] = dict.fromkeys(self.members, 0)
        self.nodes: dict[NodeId, N] = {}
        self.down: set[NodeId] = set()
        self.pending: list[Message] = []
        self.cut_links: set[tuple[NodeId, NodeId]] = set()
        self.applied: dict[NodeId, list[Entry]] = {m: [] for m in self.members}
        self.replies: dict[NodeId, list[Reply]] = {m: [] for m in self.members}
        self.readies: dict[NodeId, list[Ready]] = {m: [] for m in self.members}
        self.listeners: list[Callable[[NodeId, Ready], None]] = []
        """Called with every batch, after its write is stored and its messages
        queued (transcripts and replicated state machines listen here)."""
        for member in self.members:
            self._start(member)

    # -- nodes -----------------------------------------------------------

    def node(self, node_id: NodeId) -> N:
        if node_id in self.down:
            raise KeyError(f"node {node_id} is down")
        return self.nodes[node_id]

    def _start(self, node_id: NodeId) -> None:
        self.incarnation[node_id] += 1
        rng = Random(f"{self.seed}:{node_id}:{self.incarnation[node_id]}")
        self.nodes[node_id] = self.factory(node_id, self.members, self.storages[node_id], rng)
        self.down.discard(node_id)
        self.flush(node_id)

    def crash(self, node_id: NodeId) -> None:
        """Stop the node; unsynced writes and messages addressed to it are lost."""
        self.down.add(node_id)
        self.storages[node_id].crash()
        self.pending = [m for m in self.pending if m.dst != node_id]

    def restart(self, node_id: NodeId) -> None:
        """Start the node again from its storage."""
        self.applied[node_id] = []
        self._start(node_id)

    # -- driving ---------------------------------------------------------

    def flush(self, *node_ids: NodeId) -> None:
        """Carry out every ready batch of the given nodes (default: all)."""
        for node_id in node_ids or self.members:
            if node_id in self.down:
                continue
            node = self.nodes[node_id]
            while node.has_ready():
                ready = node.ready()
                self.readies[node_id].append(ready)
                if ready.write is not None:
                    self.storages[node_id].write(ready.write)
                for message in ready.messages:
                    if (message.src, message.dst) not in self.cut_links:
                        self.pending.append(message)
                if ready.restore is not None:
                    self.applied[node_id] = []
                    self._install(node_id, node, ready.restore)
                self.applied[node_id].extend(ready.committed)
                self.replies[node_id].extend(ready.replies)
                for listener in self.listeners:
                    listener(node_id, ready)

    def compact(self, node_id: NodeId, index: int, data: bytes = b"") -> SnapshotMeta:
        """Write ``data`` into the node's store as its snapshot at ``index`` (with
        the term of its stored entry there) and tell the node to compact."""
        storage = self.storages[node_id]
        entries = storage.entries(index, index + 1)
        term = entries[0].term if entries else 0
        node = self.node(node_id)
        membership = membership_at(node, index)
        meta = write_snapshot(storage.snapshots, index, term, data, membership)
        node.compact(index, meta)
        return meta

    def _install(self, node_id: NodeId, node: N, meta: SnapshotMeta) -> None:
        """The driver's part of a ``Ready.restore`` (there is no state machine
        to restore here): install it if received, and tell the node."""
        try:
            install_and_open(self.storages[node_id].snapshots, meta)
        except SnapshotRejected as exc:
            node.snapshot_rejected(meta, exc.reason)
        else:
            node.snapshot_installed(meta)

    def tick(self, node_id: NodeId, times: int = 1) -> None:
        for _ in range(times):
            self.node(node_id).tick()
            self.flush(node_id)

    def tick_all(self, times: int = 1) -> None:
        for _ in range(times):
            for member in self.members:
                if member not in self.down:
                    self.tick(member)

    def propose(self, node_id: NodeId, data: bytes) -> RequestId:
        rid = self.node(node_id).propose(data)
        self.flush(node_id)
        return rid

    def read(self, node_id: NodeId) -> RequestId:
        rid = self.node(node_id).read()
        self.flush(node_id)
        return rid

    def _matches(
        self,
        message: Message,
        to: NodeId | None,
        src: NodeId | None,
        types: type | tuple[type, ...] | None,
    ) -> bool:
        return (
            (to is None or message.dst == to)
            and (src is None or message.src == src)
            and (types is None or isinstance(message, types))
        )

    def deliver(
        self,
        *,
        to: NodeId | None = None,
        src: NodeId | None = None,
        types: type | tuple[type, ...] | None = None,
    ) -> list[Message]:
        """Deliver the pending messages that match (in send order); messages they
        cause are queued, not delivered. Returns what was delivered."""
        chosen = [m for m in self.pending if self._matches(m, to, src, types)]
        self.pending = [m for m in self.pending if not self._matches(m, to, src, types)]
        for message in chosen:
            if message.dst in self.down or (message.src, message.dst) in self.cut_links:
                continue
            self.nodes[message.dst].receive(message)
            self.flush(message.dst)
        return chosen

    def drop(
        self,
        *,
        to: NodeId | None = None,
        src: NodeId | None = None,
        types: type | tuple[type, ...] | None = None,
    ) -> list[Message]:
        """Discard the pending messages that match."""
        chosen = [m for m in self.pending if self._matches(m, to, src, types)]
        self.pending = [m for m in self.pending if not self._matches(m, to, src, types)]
        return chosen

    def stabilize(self, max_rounds: int = 10_000) -> None:
        """Deliver messages until none are pending."""
        for _ in range(max_rounds):
            if not self.pending:
                return
            self.deliver()
        raise RuntimeError(f"messages still flowing after {max_rounds} rounds")

    def elect(self, node_id: NodeId, max_ticks: int = 1_000) -> None:
        """Tick ``node_id`` until it leads, delivering messages after each tick."""
        for _ in range(max_ticks):
            if self.node(node_id).status().role is Role.LEADER:
                self.stabilize()
                return
            self.tick(node_id)
            self.stabilize()
        raise RuntimeError(f"node {node_id} did not become leader within {max_ticks} ticks")

    # -- the network -----------------------------------------------------

    def cut(self, src: NodeId, dst: NodeId) -> None:
        """Drop messages from ``src`` to ``dst`` from now on (one way)."""
        self.cut_links.add((src, dst))
        self.pending = [m for m in self.pending if (m.src, m.dst) != (src, dst)]

    def isolate(self, node_id: NodeId) -> None:
        """Cut ``node_id`` off from everyone, both ways."""
        for other in self.members:
            if other != node_id:
                self.cut(node_id, other)
                self.cut(other, node_id)

    def partition(self, *groups: Sequence[NodeId]) -> None:
        """Nodes in different groups cannot reach each other (both ways)."""
        for k, left in enumerate(groups):
            for right in groups[k + 1 :]:
                for a in left:
                    for b in right:
                        self.cut(a, b)
                        self.cut(b, a)

    def heal(self) -> None:
        self.cut_links.clear()
