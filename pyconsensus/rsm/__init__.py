"""The replicated-state-machine layer: the application's side of consensus.

- ``StateMachine``: the protocol an application implements;
- ``ReplicatedStateMachine``: sits beside any ``ConsensusNode`` - sessions and
  exactly-once commands, ordered application, linearizable reads, snapshots;
- ``SessionCommand`` / ``ClientSession``: the session envelope and its client side;
- ``KVStateMachine`` (``pyconsensus.rsm.kv``): a key-value store with put, get,
  compare-and-set, append, delete and range scans.
"""

from pyconsensus.rsm.envelope import SessionCommand
from pyconsensus.rsm.errors import (
    ApplyError,
    MalformedCommand,
    SessionExpired,
    StaleRequest,
    StateMachineFailed,
)
from pyconsensus.rsm.kv import KVStateMachine
from pyconsensus.rsm.machine import StateMachine
from pyconsensus.rsm.replicated import (
    Completed,
    Failed,
    Indeterminate,
    Outcome,
    ReplicatedStateMachine,
)
from pyconsensus.rsm.sessions import ClientSession, SessionTable

__all__ = [
    "ApplyError",
    "ClientSession",
    "Completed",
    "Failed",
    "Indeterminate",
    "KVStateMachine",
    "MalformedCommand",
    "Outcome",
    "ReplicatedStateMachine",
    "SessionCommand",
    "SessionExpired",
    "SessionTable",
    "StaleRequest",
    "StateMachineFailed",
    "StateMachine",
]
