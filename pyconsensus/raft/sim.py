"""Raft's entry in the simulator's protocol registry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from random import Random

from pyconsensus.core.storage import Storage
from pyconsensus.core.types import NodeId
from pyconsensus.raft.config import RaftConfig
from pyconsensus.raft.invariants import RaftSafety
from pyconsensus.raft.node import RaftNode
from pyconsensus.sim.protocols import ProtocolSpec, parse_options


def make_spec(
    config: RaftConfig | None = None, node_class: type[RaftNode] = RaftNode
) -> ProtocolSpec:
    """A Raft ``ProtocolSpec``; ``node_class`` lets tests plug in broken variants."""

    def factory(
        node_id: NodeId, members: Sequence[NodeId], storage: Storage, rng: Random
    ) -> RaftNode:
        return node_class(node_id, members, storage, rng, config)

    def configure(options: Mapping[str, str]) -> ProtocolSpec:
        return make_spec(parse_options(RaftConfig, options, config), node_class)

    return ProtocolSpec(
        name="raft",
        factory=factory,
        checkers=lambda: (RaftSafety(),),
        properties=RaftSafety.PROPERTIES,
        configure=configure,
        description="Raft with PreVote, CheckQuorum, ReadIndex and snapshots",
    )


SPEC = make_spec()
