"""Writes a checker may count only once they are durable.

With pipelined writes a node's write is staged (visible, not yet synced) while
the node goes on; a crash may legitimately lose it. A checker that records
what a node stored (a term, a promise, an epoch) must therefore take a write
into account when it becomes durable, and forget it if a crash lost it first.
"""

from __future__ import annotations

from collections.abc import Callable

from pyconsensus.core.ready import Write
from pyconsensus.core.types import NodeId
from pyconsensus.sim.checker import ClusterView

Stored = Callable[[ClusterView, NodeId, Write], None]


class DurableWrites:
    """Hands each write to ``stored`` once it is durable: at once if it was
    never staged, else from the ``settle`` after its sync (in the order each
    node made them). A write still staged when its node crashed is dropped."""

    def __init__(self, stored: Stored) -> None:
        self._stored = stored
        self._staged: list[tuple[NodeId, int, Write]] = []  # (node, incarnation, write)

    def __bool__(self) -> bool:
        """Whether any write is still waiting for its sync."""
        return bool(self._staged)

    def add(self, sim: ClusterView, node_id: NodeId, write: Write) -> None:
        if sim.storages[node_id].is_staged(write):
            self._staged.append((node_id, sim.incarnation[node_id], write))
        else:
            self._stored(sim, node_id, write)

    def settle(self, sim: ClusterView) -> None:
        """Hand over the writes that became durable; forget those a crash lost."""
        keep = []
        for item in self._staged:
            node_id, incarnation, write = item
            if sim.nodes[node_id] is None or sim.incarnation[node_id] != incarnation:
                continue  # lost with the crash (a write is synced only while its node runs)
            if sim.storages[node_id].is_staged(write):
                keep.append(item)
            else:
                self._stored(sim, node_id, write)
        self._staged = keep
