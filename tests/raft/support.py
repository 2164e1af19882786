"""Shared builders for Raft scenario tests."""

from __future__ import annotations

from collections.abc import Sequence
from random import Random
from typing import Any

from pyconsensus.core.storage import Storage
from pyconsensus.core.types import NodeId
from pyconsensus.raft import RaftConfig, RaftNode
from pyconsensus.sim.harness import Factory, Harness

PAPER: dict[str, Any] = {"pre_vote": False, "check_quorum": False}
"""The options that give the rules of the Raft paper alone: scenarios that
change leaders by hand use them, since with PreVote and CheckQuorum followers
that still hear from a leader would (rightly) refuse the elections these
tests stage. Those mechanisms have their own tests."""


def raft_factory(config: RaftConfig | None = None) -> Factory[RaftNode]:
    def build(
        node_id: NodeId, members: Sequence[NodeId], storage: Storage, rng: Random
    ) -> RaftNode:
        return RaftNode(node_id, members, storage, rng, config)

    return build


def cluster(size: int = 3, *, seed: int = 0, **config: Any) -> Harness[RaftNode]:
    """A hand-driven cluster of nodes 1..size."""
    return Harness(raft_factory(RaftConfig(**config)), range(1, size + 1), seed)


def elected(size: int = 3, leader: NodeId = 1, **config: Any) -> Harness[RaftNode]:
    """A cluster where ``leader`` has been elected and its no-op committed everywhere."""
    h = cluster(size, **config)
    h.elect(leader)
    h.tick(leader)  # a heartbeat carries the commit index to the followers
    h.stabilize()
    return h


def terms(node: RaftNode) -> list[int]:
    """The terms of a node's log, index 1 first (a compact picture of the log)."""
    return [entry.term for entry in node.log.entries]
