"""ZAB's properties (Junqueira, Reed, Serafini, DSN 2011, section III), checked
incrementally by the simulator after every step.

- Integrity: a server accepts or delivers a transaction only if the primary of
  its epoch broadcast it (same zxid, same payload).
- Total order and agreement: every server delivers the same sequence; checked
  for every protocol by ``CommittedLog`` (State Machine Safety).
- Primary Order: the transactions of one primary are delivered in the order it
  broadcast them, and a later primary's only after an earlier one's.
- Primary Integrity: an established primary's initial history holds every
  transaction of an earlier epoch that is ever delivered.
- Single Leader per Epoch: at most one server is ever established in an epoch.
- Durable Epochs: the accepted and current epochs never go backwards, not even
  across a restart, the current epoch never passes the accepted one, and a
  history never holds a transaction of an epoch later than the current one.
- Durable Quorum: when a primary delivers a transaction, a quorum holds it in
  durable storage (what a crash now would leave). This is what the quorum of
  acknowledgements promises; checking it at delivery catches a leader that
  counts a copy still in flight (pipelined writes) the moment it does, long
  before a schedule of crashes and elections turns it into a lost transaction.

With pipelined writes a server's write may be in flight (staged) while it
goes on: epochs count as stored only once their write is durable, since a
crash may legitimately lose it.

``make_spec``/``SPEC`` attach ``ZabSafety`` to the registered ZAB protocol.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pyconsensus.core.node import ConsensusNode
from pyconsensus.core.ready import Ready, Write
from pyconsensus.core.types import Entry, MetaValue, NodeId
from pyconsensus.protocols import get_protocol
from pyconsensus.sim.checker import ClusterView, InvariantViolation
from pyconsensus.sim.checkers.durable import DurableWrites
from pyconsensus.sim.specs import ProtocolSpec, spec_of
from pyconsensus.zab.config import ZabConfig
from pyconsensus.zab.node import ZabNode
from pyconsensus.zab.recovery import ACCEPTED_EPOCH_KEY, CURRENT_EPOCH_KEY


class ZabSafety:
    """Checker for the properties above; one instance per simulation run."""

    PROPERTIES = (
        "Integrity",
        "Primary Order",
        "Primary Integrity",
        "Single Leader per Epoch",
        "Durable Epochs",
        "Durable Quorum",
    )

    def __init__(self) -> None:
        self.broadcast: dict[tuple[int, int], bytes] = {}  # (epoch, index) -> payload
        self.first_broadcast: dict[int, int] = {}  # epoch -> index of its first transaction
        self.last_broadcast: dict[int, int] = {}  # epoch -> index of its latest transaction
        self.leader_of_epoch: dict[int, NodeId] = {}
        # epoch -> (first held index, last index, entries) of its leader's initial history
        self.initial: dict[int, tuple[int, int, dict[int, Entry]]] = {}
        self.delivered: dict[int, Entry] = {}
        self.accepted: dict[NodeId, int] = {}
        self.current: dict[NodeId, int] = {}
        self.checked_delivery = 0  # highest index checked for Durable Quorum
        # Epoch writes still in flight (pipelined writes): they count as stored
        # only once durable, since a crash may legitimately lose them.
        self._epoch_writes = DurableWrites(self._stored_epochs)

    # -- the checker protocol --------------------------------------------

    def on_ready(
        self, sim: ClusterView, node_id: NodeId, node: ConsensusNode, ready: Ready
    ) -> None:
        zab = _zab(node)
        write = ready.write
        if write is not None:
            if write.entries:
                self._check_accepted(node_id, zab, write.entries)
            if ACCEPTED_EPOCH_KEY in write.metadata or CURRENT_EPOCH_KEY in write.metadata:
                self._epoch_writes.add(sim, node_id, write)
            if zab.history.last_epoch > zab.current_epoch:
                raise InvariantViolation(
                    "Durable Epochs",
                    f"node {node_id} holds a transaction of epoch {zab.history.last_epoch} "
                    f"while its current epoch is {zab.current_epoch}",
                )
        for entry in ready.committed:
            if entry.index not in self.delivered:
                self._check_delivered(entry)
        if ready.committed and zab.established:
            last = ready.committed[-1]
            if last.index > self.checked_delivery:
                self.checked_delivery = last.index
                self._check_durable_quorum(sim, node_id, last)

    def on_restart(self, sim: ClusterView, node_id: NodeId, node: ConsensusNode) -> None:
        zab = _zab(node)
        accepted = self.accepted.get(node_id, 0)
        current = self.current.get(node_id, 0)
        if zab.accepted_epoch < accepted or zab.current_epoch < current:
            raise InvariantViolation(
                "Durable Epochs",
                f"node {node_id} restarted with epochs {zab.accepted_epoch}/"
                f"{zab.current_epoch} (accepted/current) after storing {accepted}/{current}",
            )

    def after_step(self, sim: ClusterView) -> None:
        if self._epoch_writes:
            self._epoch_writes.settle(sim)
        for node_id, node in sim.nodes.items():
            if node is None:
                continue
            zab = _zab(node)
            if not zab.established:
                continue
            epoch = zab.current_epoch
            holder = self.leader_of_epoch.setdefault(epoch, node_id)
            if holder != node_id:
                raise InvariantViolation(
                    "Single Leader per Epoch",
                    f"nodes {holder} and {node_id} were both established in epoch {epoch}",
                )
            if epoch not in self.initial:
                self._record_initial(epoch, node_id, zab)

    def _stored_epochs(self, sim: ClusterView, node_id: NodeId, write: Write) -> None:
        self._check_epochs(node_id, write.metadata)

    # -- the properties ----------------------------------------------------

    def _check_durable_quorum(self, sim: ClusterView, primary: NodeId, entry: Entry) -> None:
        holders = [m for m in sim.members if _durably_holds(sim, m, entry)]
        if len(holders) <= len(sim.members) // 2:
            raise InvariantViolation(
                "Durable Quorum",
                f"primary {primary} delivered transaction {_zxid(entry)} while only "
                f"nodes {holders} held it durably",
            )

    def _check_accepted(self, node_id: NodeId, zab: ZabNode, entries: Sequence[Entry]) -> None:
        primary_epoch = zab.current_epoch if zab.established else None
        broadcast = self.broadcast
        for entry in entries:
            key = (entry.term, entry.index)
            if entry.term == primary_epoch:
                # The primary of this epoch broadcasts a new transaction.
                previous = self.last_broadcast.get(entry.term)
                if key in broadcast or (previous is not None and entry.index != previous + 1):
                    raise InvariantViolation(
                        "Primary Order",
                        f"primary {node_id} of epoch {entry.term} broadcast index "
                        f"{entry.index} after index {previous}",
                    )
                broadcast[key] = entry.data
                self.first_broadcast.setdefault(entry.term, entry.index)
                self.last_broadcast[entry.term] = entry.index
                continue
            known = broadcast.get(key)
            if known is None or known != entry.data:
                raise InvariantViolation(
                    "Integrity",
                    f"node {node_id} accepted transaction {_zxid(entry)} with payload "
                    f"{entry.data[:24]!r}, which the primary of epoch {entry.term} "
                    + ("never broadcast" if known is None else f"broadcast as {known[:24]!r}"),
                )

    def _check_delivered(self, entry: Entry) -> None:
        index, epoch = entry.index, entry.term
        if self.broadcast.get((epoch, index)) != entry.data:
            raise InvariantViolation(
                "Integrity",
                f"transaction {_zxid(entry)} was delivered but never broadcast by the "
                f"primary of epoch {epoch}",
            )
        previous = self.delivered.get(index - 1)
        if previous is not None:
            if previous.term > epoch:
                raise InvariantViolation(
                    "Primary Order",
                    f"transaction {_zxid(entry)} was delivered after {_zxid(previous)}, "
                    "of a later primary",
                )
            first = self.first_broadcast.get(epoch, index)
            if first < index and previous.term != epoch:
                raise InvariantViolation(
                    "Primary Order",
                    f"transaction {_zxid(entry)} was delivered right after "
                    f"{_zxid(previous)}, skipping what its primary broadcast before it",
                )
        self.delivered[index] = entry
        for later, (lo, hi, held) in self.initial.items():
            if later > epoch:
                self._check_initial_holds(later, lo, hi, held, entry)

    def _record_initial(self, epoch: int, node_id: NodeId, zab: ZabNode) -> None:
        history = zab.history
        lo, hi = history.base_index, zab.initial_last
        held = {e.index: e for e in history.slice(lo + 1, hi + 1)}
        self.initial[epoch] = (lo, hi, held)
        for entry in self.delivered.values():
            if entry.term < epoch:
                self._check_initial_holds(epoch, lo, hi, held, entry)

    def _check_initial_holds(
        self, epoch: int, lo: int, hi: int, held: dict[int, Entry], entry: Entry
    ) -> None:
        index = entry.index
        if index <= lo:
            return  # folded into the primary's snapshot (checked by State Machine Safety)
        if held.get(index) != entry:
            raise InvariantViolation(
                "Primary Integrity",
                f"the primary of epoch {epoch} started without transaction {_zxid(entry)}, "
                "which was delivered",
            )

    def _check_epochs(self, node_id: NodeId, metadata: Mapping[str, MetaValue]) -> None:
        accepted = metadata.get(ACCEPTED_EPOCH_KEY, self.accepted.get(node_id, 0))
        current = metadata.get(CURRENT_EPOCH_KEY, self.current.get(node_id, 0))
        assert isinstance(accepted, int) and isinstance(current, int)
        if accepted < self.accepted.get(node_id, 0) or current < self.current.get(node_id, 0):
            raise InvariantViolation(
                "Durable Epochs", f"node {node_id} stored an epoch below one it stored before"
            )
        if current > accepted:
            raise InvariantViolation(
                "Durable Epochs",
                f"node {node_id} stored current epoch {current} above accepted epoch {accepted}",
            )
        self.accepted[node_id] = accepted
        self.current[node_id] = current


def _zxid(entry: Entry) -> str:
    return f"({entry.term}, {entry.index})"


def _durably_holds(sim: ClusterView, node_id: NodeId, entry: Entry) -> bool:
    """Whether ``node_id`` would still hold ``entry`` (or a snapshot past it)
    after a crash now. A live node without writes in flight holds what its
    history holds; otherwise only its storage's durable part counts."""
    index = entry.index
    node = sim.nodes[node_id]
    storage = sim.storages[node_id]
    if node is not None and not storage.has_staged():
        history = _zab(node).history
        return index <= history.base_index or history.epoch_at(index) == entry.term
    durable = storage.durable()
    snapshot = durable.snapshot()
    if snapshot is not None and index <= snapshot.index:
        return True
    stored = durable.entries(index, index + 1)
    return bool(stored) and stored[0].term == entry.term


def _zab(node: ConsensusNode) -> ZabNode:
    if not isinstance(node, ZabNode):
        raise TypeError(f"ZabSafety checks ZAB nodes, not {type(node).__name__}")
    return node


def make_spec(config: ZabConfig | None = None, node_class: type[ZabNode] = ZabNode) -> ProtocolSpec:
    """ZAB as the simulator runs it, checked by ``ZabSafety``; ``node_class``
    lets tests plug in broken variants."""
    protocol = get_protocol("zab", config, node_class)
    return spec_of(protocol, lambda: (ZabSafety(),), ZabSafety.PROPERTIES)


SPEC = make_spec()
