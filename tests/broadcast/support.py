"""Helpers shared by the broadcast tests: hand-driven groups and what they delivered."""

from __future__ import annotations

from collections.abc import Sequence
from random import Random
from typing import TypeVar

from pyconsensus.broadcast import (
    AtomicBroadcast,
    AtomicBroadcastConfig,
    BroadcastConfig,
    BroadcastNode,
    Data,
    MessageId,
)
from pyconsensus.core.storage import Storage
from pyconsensus.core.types import Entry, EntryKind, NodeId
from pyconsensus.sim import Harness

N = TypeVar("N", bound=BroadcastNode)


def group(
    node_class: type[N],
    members: Sequence[NodeId] = (1, 2, 3),
    config: BroadcastConfig | None = None,
    seed: int = 0,
) -> Harness[N]:
    """A hand-driven group of ``node_class`` members."""

    def factory(node_id: NodeId, members: Sequence[NodeId], storage: Storage, rng: Random) -> N:
        return node_class(node_id, members, storage, rng, config)

    return Harness(factory, members, seed)


def atomic_group(
    protocol: str = "raft",
    members: Sequence[NodeId] = (1, 2, 3),
    config: AtomicBroadcastConfig | None = None,
    core_config: object = None,
    node_class: type[AtomicBroadcast] = AtomicBroadcast,
) -> Harness[AtomicBroadcast]:
    def factory(
        node_id: NodeId, members: Sequence[NodeId], storage: Storage, rng: Random
    ) -> AtomicBroadcast:
        return node_class(
            node_id, members, storage, rng, config, protocol=protocol, core_config=core_config
        )

    return Harness(factory, members)


def payloads(entries: Sequence[Entry]) -> list[bytes]:
    """The broadcasts among ``entries``, as the application sees them."""
    return [e.data for e in entries if e.kind is EntryKind.NORMAL]


def ids(entries: Sequence[Entry]) -> list[MessageId]:
    return [MessageId.of(e) for e in entries if e.kind is EntryKind.NORMAL]


def data_copies(h: Harness[N]) -> list[Data]:
    """The ``Data`` messages waiting in the harness network."""
    return [m for m in h.pending if isinstance(m, Data)]
