"""Multi-Paxos's entry in the simulator's protocol registry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from random import Random

from pyconsensus.core.storage import Storage
from pyconsensus.core.types import NodeId
from pyconsensus.paxos.config import PaxosConfig
from pyconsensus.paxos.invariants import PaxosSafety
from pyconsensus.paxos.node import MultiPaxosNode
from pyconsensus.sim.protocols import ProtocolSpec, parse_options


def make_spec(
    config: PaxosConfig | None = None, node_class: type[MultiPaxosNode] = MultiPaxosNode
) -> ProtocolSpec:
    """A Multi-Paxos ``ProtocolSpec``; ``node_class`` lets tests plug in broken variants."""

    def factory(
        node_id: NodeId, members: Sequence[NodeId], storage: Storage, rng: Random
    ) -> MultiPaxosNode:
        return node_class(node_id, members, storage, rng, config)

    def configure(options: Mapping[str, str]) -> ProtocolSpec:
        return make_spec(parse_options(PaxosConfig, options, config), node_class)

    return ProtocolSpec(
        name="paxos",
        factory=factory,
        checkers=lambda: (PaxosSafety(),),
        properties=PaxosSafety.PROPERTIES,
        configure=configure,
        description="Multi-Paxos with a stable leader, leases, ReadIndex-style reads and snapshots",
    )


SPEC = make_spec()
