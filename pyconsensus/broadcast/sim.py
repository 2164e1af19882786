"""The broadcast primitives as simulator protocols (``ProtocolSpec``).

``make_spec("best-effort" | "eager" | "lazy")`` and ``make_atomic_spec(protocol)``
build specs whose checkers verify the broadcast properties. The module-level
specs use the default configurations.
"""

from __future__ import annotations

from collections.abc import Sequence
from random import Random
from typing import Final

from pyconsensus.broadcast.atomic import AtomicBroadcast
from pyconsensus.broadcast.best_effort import BestEffortBroadcast
from pyconsensus.broadcast.checkers import BroadcastSafety, TotalOrder
from pyconsensus.broadcast.config import AtomicBroadcastConfig, BroadcastConfig
from pyconsensus.broadcast.node import BroadcastNode
from pyconsensus.broadcast.reliable import EagerReliableBroadcast, LazyReliableBroadcast
from pyconsensus.core.node import NodeFactory
from pyconsensus.core.storage import Storage
from pyconsensus.core.types import NodeId
from pyconsensus.sim.checker import Checker
from pyconsensus.sim.protocols import ProtocolSpec

VARIANTS: Final[dict[str, type[BroadcastNode]]] = {
    "best-effort": BestEffortBroadcast,
    "eager": EagerReliableBroadcast,
    "lazy": LazyReliableBroadcast,
}

_DESCRIPTIONS: Final = {
    "best-effort": "best-effort broadcast (no relaying) with retransmission",
    "eager": "eager reliable broadcast: relay on first delivery",
    "lazy": "lazy reliable broadcast: relay when the failure detector suspects the origin",
}


def make_spec(
    variant: str = "eager",
    config: BroadcastConfig | None = None,
    node_class: type[BroadcastNode] | None = None,
) -> ProtocolSpec:
    """A spec for one of ``VARIANTS``; ``node_class`` lets tests plug in broken ones."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown broadcast variant {variant!r}; known: {sorted(VARIANTS)}")
    cls = node_class if node_class is not None else VARIANTS[variant]
    reliable = variant != "best-effort"

    def factory(
        node_id: NodeId, members: Sequence[NodeId], storage: Storage, rng: Random
    ) -> BroadcastNode:
        return cls(node_id, members, storage, rng, config)

    def checkers() -> Sequence[Checker]:
        return (BroadcastSafety(agreement=reliable),)

    return ProtocolSpec(
        name=variant,
        factory=factory,
        checkers=checkers,
        properties=BroadcastSafety(agreement=reliable).properties,
        total_order=False,
        description=_DESCRIPTIONS[variant],
    )


def make_atomic_spec(
    protocol: str | NodeFactory = "raft",
    config: AtomicBroadcastConfig | None = None,
    core_config: object = None,
    node_class: type[AtomicBroadcast] = AtomicBroadcast,
) -> ProtocolSpec:
    """A spec for atomic broadcast over ``protocol``'s consensus core."""
    name = protocol if isinstance(protocol, str) else "custom"

    def factory(
        node_id: NodeId, members: Sequence[NodeId], storage: Storage, rng: Random
    ) -> AtomicBroadcast:
        return node_class(
            node_id, members, storage, rng, config, protocol=protocol, core_config=core_config
        )

    def checkers() -> Sequence[Checker]:
        return (BroadcastSafety(agreement=True, sender_delivers_first=False), TotalOrder())

    return ProtocolSpec(
        name=f"atomic-{name}",
        factory=factory,
        checkers=checkers,
        properties=(
            *BroadcastSafety(agreement=True, sender_delivers_first=False).properties,
            *TotalOrder.PROPERTIES,
        ),
        total_order=True,
        description=f"atomic (total-order) broadcast over {name}",
    )


BEST_EFFORT_SPEC: Final = make_spec("best-effort")
EAGER_SPEC: Final = make_spec("eager")
LAZY_SPEC: Final = make_spec("lazy")
ATOMIC_RAFT_SPEC: Final = make_atomic_spec("raft")
ATOMIC_PAXOS_SPEC: Final = make_atomic_spec("paxos")
ATOMIC_ZAB_SPEC: Final = make_atomic_spec("zab")
"""Builds nodes only once ``pyconsensus.zab`` exists (``ConfigError`` before)."""
