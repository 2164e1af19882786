"""A tiny synchronous driver: Raft nodes on ``LmdbStorage``, talking through the CBOR codec.

It does what a real runtime does, in the contract's order - persist the
``Ready``'s write, then send its messages (encoded to frames and decoded on
arrival), then apply what committed - minus sockets and clocks: a "tick" is a
loop iteration and the network is an in-memory queue of frames.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from random import Random

from pyconsensus.adapters.cbor import default_codec
from pyconsensus.adapters.lmdb import LmdbStorage
from pyconsensus.core.ready import ProposalCommitted
from pyconsensus.core.types import NodeId, Role
from pyconsensus.raft import RaftNode
from pyconsensus.raft.node import TERM_KEY, VOTE_KEY

CLUSTER_ID = "raft-on-lmdb"

Report = Callable[[str], None]


def storage_path(root: Path, node_id: NodeId) -> Path:
    return root / f"node-{node_id}"


class Cluster:
    """``members`` Raft nodes, each on its own LMDB directory under ``root``.

    ``report`` (if given) hears, after each durable write, ``state <node>
    <term> <vote> <last_index>``, and for every entry the leader applies,
    ``commit <index> <data hex>`` - both only once they are on disk.
    """

    def __init__(
        self,
        root: Path,
        seed: int,
        members: Sequence[NodeId] = (1, 2, 3),
        report: Report | None = None,
    ) -> None:
        self.members = tuple(members)
        self.report = report
        self.codec = default_codec()
        self.storages = {
            m: LmdbStorage(storage_path(root, m), cluster_id=CLUSTER_ID, node_id=m)
            for m in self.members
        }
        self.nodes = {
            m: RaftNode(m, self.members, self.storages[m], Random(f"{seed}:{m}"))
            for m in self.members
        }
        self.network: deque[bytes] = deque()
        self.applied: dict[NodeId, list[tuple[int, bytes]]] = {m: [] for m in self.members}
        self.committed: list[tuple[int, bytes]] = []  # proposals acknowledged to clients

    def close(self) -> None:
        for storage in self.storages.values():
            storage.close()

    def leader(self) -> NodeId | None:
        leaders = [m for m, n in self.nodes.items() if n.role is Role.LEADER]
        return max(leaders, key=lambda m: self.nodes[m].term) if leaders else None

    def flush(self, node_id: NodeId) -> None:
        node = self.nodes[node_id]
        while node.has_ready():
            ready = node.ready()
            if ready.write is not None:
                self.storages[node_id].write(ready.write)  # durable before anything leaves
                if self.report is not None:
                    vote = "-" if node.voted_for is None else node.voted_for
                    self.report(f"state {node_id} {node.term} {vote} {node.log.last_index}")
            for message in ready.messages:
                self.network.append(self.codec.encode(message))
            if ready.restore is not None:
                self.applied[node_id] = []
            for entry in ready.committed:
                self.applied[node_id].append((entry.index, entry.data))
            for reply in ready.replies:
                if isinstance(reply, ProposalCommitted):
                    data = next(d for i, d in self.applied[node_id] if i == reply.index)
                    self.committed.append((reply.index, data))
                    if self.report is not None:
                        self.report(f"commit {reply.index} {data.hex()}")

    def step(self) -> None:
        """One tick everywhere, then deliver every message in flight."""
        for m in self.members:
            self.nodes[m].tick()
            self.flush(m)
        for _ in range(len(self.network)):
            message = self.codec.decode(self.network.popleft())
            self.nodes[message.dst].receive(message)
            self.flush(message.dst)

    def propose(self, data: bytes) -> bool:
        leader = self.leader()
        if leader is None:
            return False
        self.nodes[leader].propose(data)
        self.flush(leader)
        return True

    def run_until(self, done: Callable[[], bool], max_steps: int = 2_000) -> None:
        for _ in range(max_steps):
            if done():
                return
            self.step()
        raise AssertionError(f"not done after {max_steps} steps")


def hard_state(storage: LmdbStorage) -> tuple[int, NodeId | None]:
    meta = storage.metadata()
    term = meta.get(TERM_KEY, 0)
    vote = meta.get(VOTE_KEY)
    assert isinstance(term, int) and (vote is None or isinstance(vote, int))
    return term, vote
