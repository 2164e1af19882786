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
from typing import Protocol

from pyconsensus.core.ready import Ready
from pyconsensus.core.storage import Storage
from pyconsensus.core.types import NodeId, RequestId, Status


class ConsensusNode(Protocol):
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

    def compact(self, index: int, data: bytes) -> None:
        """Tell the node the application snapshotted its state at ``index``
        (which it has applied); the log up to there may be discarded."""
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


NodeFactory = Callable[[NodeId, Sequence[NodeId], Storage, Random], ConsensusNode]
"""Builds a node: ``(node_id, members, storage, rng) -> node``. The simulator and
drivers use it to start and restart nodes of any protocol."""
