"""``ConsensusNode``: the event-in/actions-out interface every protocol core implements.

A driver (the simulator, the trio runtime, a test) owns the node and does all
I/O on its behalf::

    node.tick()                      # every tick_interval of real or virtual time
    node.receive(message)            # a decoded message from a peer
    rid = node.propose(b"command")   # a client command
    rid = node.read()                # a linearizable read barrier
    while node.has_ready():
        ready = node.ready()
        storage.write(ready.write)   # durable first
        transport.send(ready.messages)
        state_machine.apply(ready.committed)
        resolve(ready.replies)

The node never blocks, never reads a clock, and draws randomness only from the
``random.Random`` it was given, so the same inputs always give the same outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from random import Random
from typing import Protocol, runtime_checkable

from pyconsensus.core.ready import Ready, Write
from pyconsensus.core.snapshots import SnapshotMeta
from pyconsensus.core.storage import Storage
from pyconsensus.core.types import NodeId, RequestId, Status


class SnapshotEvents(Protocol):
    """How a driver answers a ``Ready.restore`` (issue 15, chunked snapshots).

    ``Ready.restore`` names a snapshot the state machine must load. If it is
    the one staged in the store (``store.staged()``), the driver first calls
    ``store.install(meta)``; then it restores the state machine by streaming
    ``store.open(meta)``, and tells the node ``snapshot_installed(meta)``.
    If installing or restoring failed, it tells the node
    ``snapshot_rejected(meta, reason)`` instead: the node counts it, installs
    nothing, and the transfer starts again. A node not waiting for ``meta``
    ignores either call (a restore at start-up needs no answer, but one does
    no harm).
    """

    def snapshot_installed(self, meta: SnapshotMeta) -> None:
        """The snapshot ``meta`` is complete in the store and the state machine holds it."""
        ...

    def snapshot_rejected(self, meta: SnapshotMeta, reason: str) -> None:
        """The snapshot ``meta`` could not be installed, for ``reason``."""
        ...


class ConsensusNode(SnapshotEvents, Protocol):
    """A pure, deterministic consensus participant."""

    @property
    def id(self) -> NodeId:
        """This node's id."""
        ...

    @property
    def counters(self) -> Mapping[str, int]:
        """Event counts, notably ``dropped.<reason>`` for every rejected message."""
        ...

    def tick(self) -> None:
        """Advance the node's logical clock by one tick."""
        ...

    def receive(self, message: object) -> None:
        """Handle a message from a peer.

        Malformed, misaddressed or unknown messages are dropped and counted in
        ``counters``; they never raise and never change the node's state.
        """
        ...

    def propose(self, data: bytes) -> RequestId:
        """Submit a command. Its fate arrives later as a reply carrying the id."""
        ...

    def read(self) -> RequestId:
        """Request a linearizable read point. The reply says which index the
        state machine must have applied before the read is served."""
        ...

    def compact(self, index: int, meta: SnapshotMeta) -> None:
        """Tell the node the application snapshotted its state at ``index``
        (which it has applied) into the storage's ``SnapshotStore`` as
        ``meta``: the node records it as current and the log up to there may
        be discarded (``Write.snapshot``)."""
        ...

    def has_ready(self) -> bool:
        """Whether ``ready()`` would return a non-empty batch."""
        ...

    def ready(self) -> Ready:
        """Drain and return everything the node wants done (see ``Ready``)."""
        ...

    def status(self) -> Status:
        """A summary of the node's current state."""
        ...


@runtime_checkable
class PipelinedNode(ConsensusNode, Protocol):
    """A core that can let its writes run in parallel with its messages.

    With ``pipelined_writes`` on (a core option the driver turns on), the
    contract of ``Ready`` is relaxed in three ways, and tightened in one:

    * ``early_messages`` depend on no write at all: the driver may send them
      at once, even while this batch's write and earlier ones are in flight;
    * ``restore``, ``committed`` and ``replies`` depend on no write either:
      the driver may apply and answer before the batch's write is durable;
    * ``messages`` still depend on the batch's write *and every earlier
      one*: they go only once all of them are durable;
    * the driver must call ``persisted(write)`` once each write is durable,
      in the order the writes came out - the core counts its own log towards
      a quorum only as far as it was told it is durable.

    Writes themselves are still carried out strictly in order. A driver that
    does not call ``persisted`` must leave the option off: it keeps the
    original contract, where everything of a batch waits for its write.
    """

    @property
    def pipelined_writes(self) -> bool:
        """Whether the core runs with pipelined writes (see above)."""
        ...

    def persisted(self, write: Write) -> None:
        """``write`` (taken from an earlier ``Ready``) is now durable."""
        ...


def pipelined(node: ConsensusNode) -> bool:
    """Whether ``node`` runs with pipelined writes (``PipelinedNode``)."""
    return isinstance(node, PipelinedNode) and node.pipelined_writes


NodeFactory = Callable[[NodeId, Sequence[NodeId], Storage, Random], ConsensusNode]
"""Builds a node: ``(node_id, members, storage, rng) -> node``. The simulator and
drivers use it to start and restart nodes of any protocol."""


@runtime_checkable
class ReportsReplication(Protocol):
    """A core whose leader knows how far each peer holds its log.

    Drivers show it to operators (the runtime's ``PeerStatus.match_index``,
    the ``pyconsensus_peer_match_index`` metric). A method, not a ``Status``
    field, so that the status the simulator reads at every step stays cheap.
    """

    def replication(self) -> Mapping[NodeId, int]:
        """While leading: each peer's highest log index known to be held
        there (Raft's match index, a ZAB follower's acknowledged index, the
        highest slot a Paxos acceptor accepted in this ballot). Empty
        otherwise."""
        ...
