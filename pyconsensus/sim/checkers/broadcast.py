"""The broadcast properties, checked by the simulator.

Per batch, as it comes out of ``ready()`` (``on_ready``):

- **No Duplication**: a member (one incarnation of it) delivers an id at most once.
- **No Creation**: every delivered id names a member, carries the same data
  wherever it is delivered, was broadcast by its origin (for primitives whose
  origin delivers its own broadcast at once: the origin delivered it first)
  and, when the workload keeps a ledger of what it broadcast, carries data
  that its origin really broadcast.
- **Total Order** (``TotalOrder``): every member delivers the same entry at
  each position and positions one after another.

At the end of a run, after every fault healed and the cluster settled
(``check_eventual``):

- **Validity**: every broadcast of a correct member was delivered by every
  correct member.
- **Agreement** (reliable and atomic broadcast): every id some correct member
  delivered was delivered by every correct member.

"Correct" means never crashed: a restarted member is a new incarnation that
joined late, and these primitives promise it nothing about what came before.

``make_spec``, ``make_atomic_spec`` and the ``*_SPEC`` constants attach these
checkers to the registered broadcast protocols.
"""

from __future__ import annotations

from typing import Final

from pyconsensus.broadcast.atomic import AtomicBroadcast
from pyconsensus.broadcast.config import AtomicBroadcastConfig, BroadcastConfig
from pyconsensus.broadcast.ids import MessageId
from pyconsensus.broadcast.node import BroadcastNode
from pyconsensus.core.node import ConsensusNode, NodeFactory
from pyconsensus.core.ready import Ready
from pyconsensus.core.types import EntryKind, NodeId
from pyconsensus.protocols import get_protocol, node_protocol
from pyconsensus.sim.checker import ClusterView, InvariantViolation
from pyconsensus.sim.specs import ProtocolSpec, spec_of

Incarnation = tuple[NodeId, int]
"""One run of one member: ``(node id, incarnation number)``."""


def correct_members(sim: ClusterView) -> list[NodeId]:
    """Members that are up and never crashed."""
    return [m for m in sim.members if sim.incarnation[m] == 1 and sim.nodes[m] is not None]


class BroadcastSafety:
    """Validity, No Duplication, No Creation and, if ``agreement``, Agreement.

    ``sender_delivers_first``: the primitive delivers a broadcast at its origin
    before any copy leaves (best-effort and reliable broadcast do; atomic
    broadcast delivers in the common order). ``ledger``: the workload records
    every broadcast with ``record_broadcast`` (its payloads must be unique).
    """

    def __init__(
        self,
        *,
        agreement: bool = True,
        sender_delivers_first: bool = True,
        ledger: bool = False,
    ) -> None:
        self.agreement = agreement
        self.sender_delivers_first = sender_delivers_first
        self.ledger: dict[bytes, NodeId] | None = {} if ledger else None
        self.contents: dict[MessageId, bytes] = {}
        self.id_of: dict[bytes, MessageId] = {}
        self.delivered: dict[Incarnation, dict[MessageId, int]] = {}
        self.by_index: dict[Incarnation, dict[int, MessageId]] = {}
        self.sent_by_origin: set[MessageId] = set()
        self.restores: dict[Incarnation, set[int]] = {}
        self.position: dict[MessageId, int] = {}  # index of the first delivery anywhere
        self.deliveries = 0

    @property
    def properties(self) -> tuple[str, ...]:
        names = ("Validity", "No Duplication", "No Creation")
        return (*names, "Agreement") if self.agreement else names

    # -- the workload's ledger ---------------------------------------------

    def record_broadcast(self, origin: NodeId, data: bytes) -> None:
        """``origin`` is about to broadcast ``data`` (which must be unique)."""
        if self.ledger is None:
            raise ValueError("this checker keeps no ledger (build it with ledger=True)")
        self.ledger[data] = origin

    def forget_broadcast(self, data: bytes) -> None:
        """The broadcast of ``data`` never happened (its origin was down)."""
        if self.ledger is not None:
            self.ledger.pop(data, None)

    def delivered_at(self, node_id: NodeId, incarnation: int, index: int) -> bytes | None:
        """What that incarnation of ``node_id`` delivered at ``index``, if anything."""
        mid = self.by_index.get((node_id, incarnation), {}).get(index)
        return None if mid is None else self.contents[mid]

    # -- checking ------------------------------------------------------------

    def holdings(self, key: Incarnation) -> set[MessageId]:
        """Ids that incarnation delivered, one by one or inside an installed
        snapshot (atomic broadcast, where a position is the same everywhere)."""
        held = set(self.delivered.get(key, ()))
        restores = self.restores.get(key)
        if restores:
            top = max(restores)
            held.update(mid for mid, index in self.position.items() if index <= top)
        return held

    def has_delivered(self, sim: ClusterView, node_id: NodeId, data: bytes) -> bool:
        """Whether the current incarnation of ``node_id`` holds ``data``."""
        mid = self.id_of.get(data)
        key = (node_id, sim.incarnation[node_id])
        return mid is not None and mid in self.holdings(key)

    def on_ready(
        self, sim: ClusterView, node_id: NodeId, node: ConsensusNode, ready: Ready
    ) -> None:
        key = (node_id, sim.incarnation[node_id])
        if ready.restore is not None:
            self.restores.setdefault(key, set()).add(ready.restore.index)
        if not ready.committed:
            return
        delivered = self.delivered.setdefault(key, {})
        by_index = self.by_index.setdefault(key, {})
        for entry in ready.committed:
            if entry.kind is not EntryKind.NORMAL:
                continue
            try:
                mid = MessageId.of(entry)
            except ValueError:
                raise InvariantViolation(
                    "No Creation", f"node {node_id} delivered an entry with no message id"
                ) from None
            if mid in delivered:
                raise InvariantViolation(
                    "No Duplication",
                    f"node {node_id} delivered {mid} at index {entry.index} after "
                    f"delivering it at index {delivered[mid]}",
                )
            self._check_creation(sim, node_id, mid, entry.data)
            delivered[mid] = entry.index
            by_index[entry.index] = mid
            self.position.setdefault(mid, entry.index)
            self.deliveries += 1

    def _check_creation(
        self, sim: ClusterView, node_id: NodeId, mid: MessageId, data: bytes
    ) -> None:
        if mid.origin not in sim.members:
            raise InvariantViolation(
                "No Creation", f"node {node_id} delivered {mid}, whose origin is not a member"
            )
        known = self.contents.setdefault(mid, data)
        if known != data:
            raise InvariantViolation(
                "No Creation",
                f"node {node_id} delivered {mid} as {_show(data)}; "
                f"another member delivered it as {_show(known)}",
            )
        self.id_of.setdefault(data, mid)
        if self.ledger is not None and self.ledger.get(data) != mid.origin:
            raise InvariantViolation(
                "No Creation",
                f"node {node_id} delivered {_show(data)} as {mid}, but node {mid.origin} "
                "never broadcast it",
            )
        if mid.origin == node_id:
            self.sent_by_origin.add(mid)
        elif self.sender_delivers_first and mid not in self.sent_by_origin:
            raise InvariantViolation(
                "No Creation",
                f"node {node_id} delivered {mid} before its origin broadcast it",
            )

    def on_restart(self, sim: ClusterView, node_id: NodeId, node: ConsensusNode) -> None:
        pass  # the new incarnation is a new key in ``delivered``

    def after_step(self, sim: ClusterView) -> None:
        pass

    def eventual_violation(self, sim: ClusterView) -> InvariantViolation | None:
        """The first end-of-run property that does not hold now, if any."""
        correct = correct_members(sim)
        sets = {m: self.holdings((m, 1)) for m in correct}
        owed = self._owed(correct, sets)
        if owed:
            mid, missing = owed[0]
            return InvariantViolation(
                "Validity",
                f"correct node {mid.origin} broadcast {mid} ({_show(self.contents[mid])}) "
                f"but correct nodes {missing} never delivered it",
            )
        if self.ledger is not None:
            for data, origin in self.ledger.items():
                if origin in correct and data not in self.id_of:
                    return InvariantViolation(
                        "Validity",
                        f"correct node {origin} broadcast {_show(data)} but nobody delivered it",
                    )
        if self.agreement:
            union: set[MessageId] = set()
            for delivered in sets.values():
                union.update(delivered)
            for mid in sorted(union):
                missing = [m for m in correct if mid not in sets[m]]
                if missing:
                    holders = [m for m in correct if mid in sets[m]]
                    return InvariantViolation(
                        "Agreement",
                        f"correct nodes {holders} delivered {mid} but correct nodes "
                        f"{missing} never did",
                    )
        return None

    def _owed(
        self, correct: list[NodeId], sets: dict[NodeId, set[MessageId]]
    ) -> list[tuple[MessageId, list[NodeId]]]:
        """Broadcasts of correct members that some correct member lacks."""
        owed = []
        wanted = {mid for mid in self.sent_by_origin if mid.origin in correct}
        if self.ledger is not None:
            wanted.update(
                self.id_of[data]
                for data, origin in self.ledger.items()
                if origin in correct and data in self.id_of
            )
        for mid in sorted(wanted):
            missing = [m for m in correct if mid not in sets[m]]
            if missing:
                owed.append((mid, missing))
        return owed

    def check_eventual(self, sim: ClusterView) -> None:
        """Raise ``InvariantViolation`` if Validity or Agreement does not hold now."""
        violation = self.eventual_violation(sim)
        if violation is not None:
            raise violation


class TotalOrder:
    """Every member delivers the same entry at each position, in position order.

    Positions are ``Entry.index``; a member that installs a snapshot jumps to
    the snapshot's index. Broadcasts are compared by id, bookkeeping entries
    (``NOOP``/``CONFIG``) by kind.
    """

    PROPERTIES = ("Total Order",)

    def __init__(self) -> None:
        self.at: dict[int, MessageId | EntryKind] = {}
        self.last: dict[Incarnation, int] = {}

    def on_ready(
        self, sim: ClusterView, node_id: NodeId, node: ConsensusNode, ready: Ready
    ) -> None:
        key = (node_id, sim.incarnation[node_id])
        last = self.last.get(key, 0)
        if ready.restore is not None:
            last = max(last, ready.restore.index)
        for entry in ready.committed:
            if entry.index != last + 1:
                raise InvariantViolation(
                    "Total Order",
                    f"node {node_id} delivered position {entry.index} right after {last}",
                )
            item: MessageId | EntryKind = entry.kind
            if entry.kind is EntryKind.NORMAL:
                try:
                    item = MessageId.of(entry)
                except ValueError:
                    raise InvariantViolation(
                        "Total Order", f"node {node_id} delivered an entry with no message id"
                    ) from None
            known = self.at.setdefault(entry.index, item)
            if known != item:
                raise InvariantViolation(
                    "Total Order",
                    f"node {node_id} delivered {item} at position {entry.index} where "
                    f"another member delivered {known}",
                )
            last = entry.index
        self.last[key] = last

    def on_restart(self, sim: ClusterView, node_id: NodeId, node: ConsensusNode) -> None:
        pass

    def after_step(self, sim: ClusterView) -> None:
        pass


def _show(data: bytes) -> str:
    return repr(data if len(data) <= 24 else data[:21] + b"...")


RELAYING: Final = {"best-effort": False, "eager": True, "lazy": True}
"""The broadcast primitives by name, and whether each promises Agreement."""


def make_spec(
    variant: str = "eager",
    config: BroadcastConfig | None = None,
    node_class: type[BroadcastNode] | None = None,
) -> ProtocolSpec:
    """One of ``RELAYING``'s primitives as the simulator runs it, checked by
    ``BroadcastSafety``; ``node_class`` lets tests plug in broken ones."""
    if variant not in RELAYING:
        raise ValueError(f"unknown broadcast variant {variant!r}; known: {sorted(RELAYING)}")
    agreement = RELAYING[variant]
    return spec_of(
        get_protocol(variant, config, node_class),
        lambda: (BroadcastSafety(agreement=agreement),),
        BroadcastSafety(agreement=agreement).properties,
        total_order=False,
    )


def make_atomic_spec(
    protocol: str | NodeFactory = "raft",
    config: AtomicBroadcastConfig | None = None,
    core_config: object = None,
    node_class: type[AtomicBroadcast] = AtomicBroadcast,
) -> ProtocolSpec:
    """Atomic broadcast over ``protocol``'s consensus core as the simulator
    runs it, checked by ``BroadcastSafety`` and ``TotalOrder``."""
    name = protocol if isinstance(protocol, str) else "custom"
    atomic = node_protocol(
        f"atomic-{name}",
        node_class,
        AtomicBroadcastConfig,
        config,
        f"atomic (total-order) broadcast over {name}",
        protocol=protocol,
        core_config=core_config,
    )
    return spec_of(
        atomic,
        lambda: (BroadcastSafety(agreement=True, sender_delivers_first=False), TotalOrder()),
        (
            *BroadcastSafety(agreement=True, sender_delivers_first=False).properties,
            *TotalOrder.PROPERTIES,
        ),
    )


BEST_EFFORT_SPEC: Final = make_spec("best-effort")
EAGER_SPEC: Final = make_spec("eager")
LAZY_SPEC: Final = make_spec("lazy")
ATOMIC_RAFT_SPEC: Final = make_atomic_spec("raft")
ATOMIC_PAXOS_SPEC: Final = make_atomic_spec("paxos")
ATOMIC_ZAB_SPEC: Final = make_atomic_spec("zab")
