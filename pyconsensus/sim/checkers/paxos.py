"""Paxos's safety properties, checked by the simulator after every batch.

The checker reads what acceptors make durable - every entry in a write is an
acceptance of ``(slot, ballot, value)`` and the ``paxos.promised`` key is the
promise - so it judges the protocol by its durable effects, not by what the
nodes believe. A write still in flight (pipelined writes: staged, not yet
durable) counts only once durable, and not at all if a crash loses it.

- Promise Monotonic: an acceptor's stored promise never goes backwards, not
  even across a crash and restart.
- Accept Respects Promise: an acceptor accepts only in ballots at or above its
  promise as stored before the batch, and never above the promise it stores.
- Proposal Uniqueness: in one ballot, one slot is given one value only.
- Chosen Uniqueness: at most one value is chosen (accepted by a quorum in one
  ballot) per slot.
- Learned Only Chosen: a learner learns only values already chosen for their
  slot; ``CommittedLog`` adds that learners agree and learn in slot order.

``make_spec``/``SPEC`` attach ``PaxosSafety`` to the registered Multi-Paxos protocol.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyconsensus.core.node import ConsensusNode
from pyconsensus.core.ready import Ready, Write
from pyconsensus.core.types import Entry, EntryKind, NodeId
from pyconsensus.paxos.ballot import Ballot
from pyconsensus.paxos.config import PaxosConfig
from pyconsensus.paxos.node import PROMISED_KEY, MultiPaxosNode
from pyconsensus.protocols import get_protocol
from pyconsensus.sim.checker import ClusterView, InvariantViolation
from pyconsensus.sim.checkers.durable import DurableWrites
from pyconsensus.sim.specs import ProtocolSpec, spec_of

Value = tuple[bytes, EntryKind]


class PaxosSafety:
    """Checker for the properties above; one instance per simulation run."""

    PROPERTIES = (
        "Promise Monotonic",
        "Accept Respects Promise",
        "Proposal Uniqueness",
        "Chosen Uniqueness",
        "Learned Only Chosen",
    )

    def __init__(self) -> None:
        self.promised: dict[NodeId, int] = {}
        # (slot, packed ballot) -> the value proposed and who accepted it
        self.accepted: dict[tuple[int, int], tuple[Value, set[NodeId]]] = {}
        self.chosen: dict[int, Value] = {}
        # Writes in flight (pipelined writes) are checked like any other once
        # durable, in the order each node made them.
        self._writes = DurableWrites(self._stored)

    def on_ready(
        self, sim: ClusterView, node_id: NodeId, node: ConsensusNode, ready: Ready
    ) -> None:
        _paxos(node)
        if self._writes:
            # A write that became durable may be what makes this batch's learned
            # values chosen (a pipelined leader learns once its own write is done).
            self._writes.settle(sim)
        if ready.write is not None:
            self._writes.add(sim, node_id, ready.write)
        for entry in ready.committed:
            chosen = self.chosen.get(entry.index)
            if chosen != (entry.data, entry.kind):
                raise InvariantViolation(
                    "Learned Only Chosen",
                    f"node {node_id} learned {_value(entry)} in slot {entry.index}, "
                    + (
                        "which no quorum accepted"
                        if chosen is None
                        else f"but {_show_value(chosen)} is chosen there"
                    ),
                )

    def on_restart(self, sim: ClusterView, node_id: NodeId, node: ConsensusNode) -> None:
        restored = _paxos(node).promised.packed
        stored = self.promised.get(node_id, 0)
        if restored < stored:
            raise InvariantViolation(
                "Promise Monotonic",
                f"node {node_id} restarted with promise {_show(restored)} after storing "
                f"{_show(stored)}",
            )

    def after_step(self, sim: ClusterView) -> None:
        if self._writes:
            self._writes.settle(sim)

    def _stored(self, sim: ClusterView, node_id: NodeId, write: Write) -> None:
        """``write`` is durable at ``node_id``: check its promise and acceptances."""
        before = self.promised.get(node_id, 0)
        after = before
        if PROMISED_KEY in write.metadata:
            stored = write.metadata[PROMISED_KEY]
            assert isinstance(stored, int)
            if stored < before:
                raise InvariantViolation(
                    "Promise Monotonic",
                    f"node {node_id} stored promise {_show(stored)} after {_show(before)}",
                )
            self.promised[node_id] = after = stored
        if write.entries:
            quorum = len(sim.members) // 2 + 1
            self._accept(node_id, write.entries, before, after, quorum)

    def _accept(
        self, node_id: NodeId, entries: Sequence[Entry], before: int, after: int, quorum: int
    ) -> None:
        accepted = self.accepted
        for entry in entries:
            slot, ballot = entry.index, entry.term
            if ballot < before or ballot > after:
                raise InvariantViolation(
                    "Accept Respects Promise",
                    f"node {node_id} accepted slot {slot} in ballot {_show(ballot)} with "
                    f"promise {_show(before)} (stored {_show(after)})",
                )
            key = (slot, ballot)
            record = accepted.get(key)
            if record is None:
                accepted[key] = record = ((entry.data, entry.kind), {node_id})
            else:
                value = record[0]
                # Identity first: in the simulator most copies share one bytes object.
                if (value[0] is not entry.data and value[0] != entry.data) or (
                    value[1] is not entry.kind
                ):
                    raise InvariantViolation(
                        "Proposal Uniqueness",
                        f"slot {slot} holds {_show_value(value)} and {_value(entry)} in "
                        f"ballot {_show(ballot)} (the latter at node {node_id})",
                    )
                record[1].add(node_id)
            if len(record[1]) == quorum:
                chosen = self.chosen.setdefault(slot, record[0])
                if chosen != record[0]:
                    raise InvariantViolation(
                        "Chosen Uniqueness",
                        f"slot {slot}: {_value(entry)} was chosen in ballot {_show(ballot)} "
                        f"after {_show_value(chosen)} had been chosen",
                    )


def _paxos(node: ConsensusNode) -> MultiPaxosNode:
    if not isinstance(node, MultiPaxosNode):
        raise TypeError(f"PaxosSafety checks Multi-Paxos nodes, not {type(node).__name__}")
    return node


def _show(packed: int) -> str:
    return str(Ballot.unpack(packed))


def _show_value(value: Value) -> str:
    data, kind = value
    if kind is EntryKind.NOOP:
        return "a no-op"
    shown = data if len(data) <= 24 else data[:21] + b"..."
    return repr(shown)


def _value(entry: Entry) -> str:
    return _show_value((entry.data, entry.kind))


def make_spec(
    config: PaxosConfig | None = None, node_class: type[MultiPaxosNode] = MultiPaxosNode
) -> ProtocolSpec:
    """Multi-Paxos as the simulator runs it, checked by ``PaxosSafety``; ``node_class``
    lets tests plug in broken variants."""
    protocol = get_protocol("paxos", config, node_class)
    return spec_of(protocol, lambda: (PaxosSafety(),), PaxosSafety.PROPERTIES)


SPEC = make_spec()
