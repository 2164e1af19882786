"""ZAB's entry in the simulator's protocol registry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from random import Random

from pyconsensus.core.storage import Storage
from pyconsensus.core.types import NodeId
from pyconsensus.sim.protocols import ProtocolSpec, parse_options
from pyconsensus.zab.config import ZabConfig
from pyconsensus.zab.invariants import ZabSafety
from pyconsensus.zab.node import ZabNode


def make_spec(config: ZabConfig | None = None, node_class: type[ZabNode] = ZabNode) -> ProtocolSpec:
    """A ZAB ``ProtocolSpec``; ``node_class`` lets tests plug in broken variants."""

    def factory(
        node_id: NodeId, members: Sequence[NodeId], storage: Storage, rng: Random
    ) -> ZabNode:
        return node_class(node_id, members, storage, rng, config)

    def configure(options: Mapping[str, str]) -> ProtocolSpec:
        return make_spec(parse_options(ZabConfig, options, config), node_class)

    return ProtocolSpec(
        name="zab",
        factory=factory,
        checkers=lambda: (ZabSafety(),),
        properties=ZabSafety.PROPERTIES,
        configure=configure,
        description="ZooKeeper Atomic Broadcast with Fast Leader Election, "
        "DIFF/TRUNC/SNAP sync, forwarding and quorum reads",
    )


SPEC = make_spec()
