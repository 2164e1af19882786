"""Safety checks the simulator runs after every step, and the violations they raise.

A ``Checker`` sees every batch a node hands out (after its write was applied)
and gets a look at the whole cluster after every step, through a read-only
``ClusterView``. Checks are incremental: each costs time proportional to what
changed, so they can run after every step of long sweeps.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Protocol

import attrs

from pyconsensus.core.node import ConsensusNode
from pyconsensus.core.ready import Ready
from pyconsensus.core.snapshots import read_all
from pyconsensus.core.storage import MemoryStorage
from pyconsensus.core.types import Entry, EntryKind, NodeId


@attrs.frozen(slots=True)
class Violation:
    """A broken property: which one, what was seen, and when."""

    property: str
    detail: str
    time_ms: int = 0
    step: int = 0
    operation: int | None = None
    """For a linearizability violation: the history id of the operation that
    could not be placed."""

    def __str__(self) -> str:
        return f"{self.property} violated at t={self.time_ms}ms (step {self.step}): {self.detail}"


class InvariantViolation(Exception):
    """Raised by a checker; the simulation stops and reports it."""

    def __init__(self, property: str, detail: str) -> None:
        super().__init__(f"{property}: {detail}")
        self.property = property
        self.detail = detail


class ClusterView(Protocol):
    """What a checker may read of a simulated cluster (``Simulation`` is one)."""

    @property
    def now(self) -> int:
        """Virtual time in milliseconds."""
        ...

    @property
    def members(self) -> Sequence[NodeId]:
        """Every node id of the cluster."""
        ...

    @property
    def nodes(self) -> Mapping[NodeId, ConsensusNode | None]:
        """Each member's running node; ``None`` while it is down."""
        ...

    @property
    def storages(self) -> Mapping[NodeId, MemoryStorage]:
        """Each member's storage (it outlives crashes)."""
        ...

    @property
    def incarnation(self) -> Mapping[NodeId, int]:
        """How many times each member has started (1 until its first restart)."""
        ...

    @property
    def committed_log(self) -> CommittedLog:
        """The committed entries every node must agree on."""
        ...


class Checker(Protocol):
    """Something that watches a simulation for broken properties."""

    def on_ready(
        self, sim: ClusterView, node_id: NodeId, node: ConsensusNode, ready: Ready
    ) -> None:
        """Called with each batch after its write was applied to storage."""
        ...

    def on_restart(self, sim: ClusterView, node_id: NodeId, node: ConsensusNode) -> None:
        """Called when ``node_id`` comes back up from its storage."""
        ...

    def after_step(self, sim: ClusterView) -> None:
        """Called after every simulation step."""
        ...


class CommittedLog:
    """The one sequence of committed entries every node must agree on.

    Each node's applied entries are compared with it as they come out of
    ``ready()``: this is State Machine Safety, for any protocol. Entries are
    compared by what the state machine sees - index, kind and data - not by
    term: in Paxos a chosen value is legitimately learned under different
    ballots by different learners. It also plays
    each node's state machine, reduced to a running digest of what it applied;
    the simulator stores that digest in snapshots, so a restored snapshot is
    checked against the digest every other node had at the same index.
    """

    def __init__(self, opaque_snapshots: bool = False) -> None:
        self.opaque_snapshots = opaque_snapshots
        """Snapshots hold an application's state, not this checker's digest
        (a ``ReplicatedStateMachine`` takes them): a restored snapshot then
        resumes the digest every other node had at its index."""
        self.entries: dict[int, Entry] = {}
        self.digests: dict[int, int] = {0: 0}
        self.applied: dict[NodeId, tuple[int, int]] = {}  # node -> (index, digest)
        self.terms: dict[NodeId, int] = {}  # node -> term of its entry at its applied index
        self.highest = 0

    def state_of(self, node_id: NodeId) -> tuple[int, int]:
        """``(applied index, digest)`` of the node's state machine."""
        return self.applied.get(node_id, (0, 0))

    def on_ready(
        self, sim: ClusterView, node_id: NodeId, node: ConsensusNode, ready: Ready
    ) -> None:
        applied, digest = self.applied.get(node_id, (0, 0))
        if ready.restore is not None and self.opaque_snapshots:
            applied = ready.restore.index
            resumed = self.digests.get(applied)
            if resumed is None:
                raise InvariantViolation(
                    "State Machine Safety",
                    f"node {node_id} restored a snapshot at index {applied}, "
                    "which no node has applied",
                )
            digest = resumed
        elif ready.restore is not None:
            # A node that wraps the application's snapshot (atomic broadcast)
            # says where the application's bytes are (``payload``).
            payload = getattr(node, "payload", None)
            store = sim.storages[node_id].snapshots
            reader = payload(ready.restore) if payload else store.open(ready.restore)
            data = read_all(reader)
            applied, digest = decode_snapshot(data, ready.restore.index)
            known_digest = self.digests.get(applied)
            if known_digest is not None and known_digest != digest:
                raise InvariantViolation(
                    "State Machine Safety",
                    f"node {node_id} restored a snapshot at index {applied} whose state "
                    "differs from what other nodes applied up to there",
                )
        entries = self.entries
        digests = self.digests
        for entry in ready.committed:
            index = entry.index
            if index != applied + 1:
                raise InvariantViolation(
                    "State Machine Safety",
                    f"node {node_id} applied index {index} right after {applied}",
                )
            digest = zlib.crc32(entry.data, zlib.crc32(_KIND_BYTES[entry.kind], digest))
            known = entries.get(index)
            if known is None:
                entries[index] = entry
                digests[index] = digest
                self.highest = max(self.highest, index)
            elif known.data != entry.data or known.kind != entry.kind:
                raise InvariantViolation(
                    "State Machine Safety",
                    f"node {node_id} applied {_show(entry)} at index {index} but "
                    f"another node applied {_show(known)} there",
                )
            applied = index
        self.applied[node_id] = (applied, digest)
        if ready.committed:
            self.terms[node_id] = ready.committed[-1].term
        elif ready.restore is not None:
            self.terms[node_id] = ready.restore.term

    def on_restart(self, sim: ClusterView, node_id: NodeId, node: ConsensusNode) -> None:
        self.applied[node_id] = (0, 0)  # the restarted node replays from its snapshot

    def after_step(self, sim: ClusterView) -> None:
        pass

    def committed(self) -> Mapping[int, Entry]:
        return self.entries


_KIND_BYTES = {kind: bytes([kind]) for kind in EntryKind}


def encode_snapshot(index: int, digest: int) -> bytes:
    """Snapshot data of the simulator's digest state machine."""
    return b"%d:%d" % (index, digest)


def decode_snapshot(data: bytes, index: int) -> tuple[int, int]:
    try:
        stored_index, digest = (int(part) for part in data.split(b":"))
    except ValueError:
        raise InvariantViolation(
            "State Machine Safety", f"snapshot at index {index} holds garbage {data[:40]!r}"
        ) from None
    if stored_index != index:
        raise InvariantViolation(
            "State Machine Safety",
            f"snapshot labelled index {index} holds the state at index {stored_index}",
        )
    return stored_index, digest


def _show(entry: Entry) -> str:
    data = entry.data if len(entry.data) <= 24 else entry.data[:21] + b"..."
    return f"(term {entry.term}, {entry.kind.name.lower()}, {data!r})"
