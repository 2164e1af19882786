"""Broadcast primitives as sans-IO cores: best-effort, reliable (eager and lazy) and atomic.

All of them follow the shared contract: ``propose(data)`` broadcasts and
returns a request id, deliveries come out in ``Ready.committed`` as entries
whose ``term`` packs the message id (``MessageId.of(entry)``), and the request
is answered when the broadcast is delivered locally. See docs/broadcast.md.

The simulator side lives beside the simulator: specs and checkers in
``pyconsensus.sim.checkers.broadcast``, sweeps in ``pyconsensus.sim.broadcast_sweep``.
"""

from pyconsensus.broadcast.atomic import PROTOCOLS, AtomicBroadcast, core_factory
from pyconsensus.broadcast.best_effort import BestEffortBroadcast
from pyconsensus.broadcast.config import AtomicBroadcastConfig, BroadcastConfig
from pyconsensus.broadcast.detector import FailureDetector
from pyconsensus.broadcast.errors import ReadUnsupported
from pyconsensus.broadcast.ids import MessageId, SequenceSet
from pyconsensus.broadcast.messages import Ack, BroadcastMessage, Data, Forward, Heartbeat
from pyconsensus.broadcast.node import BroadcastNode
from pyconsensus.broadcast.reliable import EagerReliableBroadcast, LazyReliableBroadcast

__all__ = [
    "PROTOCOLS",
    "Ack",
    "AtomicBroadcast",
    "AtomicBroadcastConfig",
    "BestEffortBroadcast",
    "BroadcastConfig",
    "BroadcastMessage",
    "BroadcastNode",
    "Data",
    "EagerReliableBroadcast",
    "FailureDetector",
    "Forward",
    "Heartbeat",
    "LazyReliableBroadcast",
    "MessageId",
    "ReadUnsupported",
    "SequenceSet",
    "core_factory",
]
