"""Helpers shared by the Paxos tests: building hand-driven clusters and reading their state."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from random import Random

from pyconsensus.core.errors import ConsensusError
from pyconsensus.core.ready import Message, RequestFailed
from pyconsensus.core.storage import Storage
from pyconsensus.core.types import Entry, NodeId, RequestId, Role
from pyconsensus.paxos import Accept, Ballot, MultiPaxosNode, PaxosConfig
from pyconsensus.sim import Harness

NO_LEASE = PaxosConfig(lease=False)
"""For scenarios about other rules: acceptors answer every prepare at once."""


def cluster(
    members: Sequence[NodeId] = (1, 2, 3),
    config: PaxosConfig | None = None,
    seed: int = 0,
    node_class: type[MultiPaxosNode] = MultiPaxosNode,
) -> Harness[MultiPaxosNode]:
    def factory(
        node_id: NodeId, members: Sequence[NodeId], storage: Storage, rng: Random
    ) -> MultiPaxosNode:
        return node_class(node_id, members, storage, rng, config)

    return Harness(factory, members, seed)


def start_phase1(h: Harness[MultiPaxosNode], node_id: NodeId, max_ticks: int = 1_000) -> Ballot:
    """Tick ``node_id`` (delivering nothing) until it runs phase 1; its ballot."""
    node = h.node(node_id)
    for _ in range(max_ticks):
        h.tick(node_id)
        if node.role is not Role.FOLLOWER:
            return node.ballot
    raise AssertionError(f"node {node_id} did not start phase 1 within {max_ticks} ticks")


def values(entries: Sequence[Entry]) -> list[bytes]:
    """Entries as the state machine sees them: data, with no-ops as b'<noop>'."""
    return [e.data if e.kind.name == "NORMAL" else b"<noop>" for e in entries]


def accepted(node: MultiPaxosNode, slot: int) -> tuple[Ballot, bytes] | None:
    """What ``node`` accepted in ``slot``: (ballot, data), or None for a hole."""
    entry = node.log.get(slot)
    if entry is None:
        return None
    return Ballot.unpack(entry.term), entry.data


def deliver_where(h: Harness[MultiPaxosNode], keep: Callable[[Message], bool]) -> list[Message]:
    """Deliver (in send order) the pending messages for which ``keep`` is true."""
    chosen = [m for m in h.pending if keep(m)]
    h.pending = [m for m in h.pending if not keep(m)]
    for message in chosen:
        if message.dst not in h.down and (message.src, message.dst) not in h.cut_links:
            h.nodes[message.dst].receive(message)
            h.flush(message.dst)
    return chosen


def accept_for(slot: int, to: NodeId) -> Callable[[Message], bool]:
    """Matches the ``Accept`` to ``to`` that carries ``slot``."""

    def keep(message: Message) -> bool:
        return (
            isinstance(message, Accept)
            and message.dst == to
            and message.entries[0].index <= slot <= message.entries[-1].index
        )

    return keep


def error_of(h: Harness[MultiPaxosNode], node_id: NodeId, rid: RequestId) -> ConsensusError:
    """The error that the request ``rid`` at ``node_id`` failed with."""
    for reply in h.replies[node_id]:
        if isinstance(reply, RequestFailed) and reply.request_id == rid:
            return reply.error
    raise AssertionError(f"request {rid} at node {node_id} did not fail: {h.replies[node_id]}")
