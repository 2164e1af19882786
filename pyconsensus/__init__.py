"""pyconsensus: embeddable consensus for Python.

The core (this package, minus ``pyconsensus.adapters`` and the CLI) is pure:
protocol state machines that take events and return batches of actions, with
no I/O, clocks or global randomness. Adapters for trio, LMDB and CBOR supply
the I/O.
"""

from pyconsensus.core import (
    ConsensusError,
    ConsensusNode,
    Entry,
    MemoryStorage,
    NotLeader,
    Ready,
    Storage,
    Write,
)

__version__ = "0.1.0"

__all__ = [
    "ConsensusError",
    "ConsensusNode",
    "Entry",
    "MemoryStorage",
    "NotLeader",
    "Ready",
    "Storage",
    "Write",
    "__version__",
]
