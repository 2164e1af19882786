"""Deterministic simulation: run any protocol core on virtual time with injected faults.

- ``Simulation`` plays a cluster forward event by event from one seed;
- ``Harness`` drives nodes by hand for scenario tests (and ``transcript`` files);
- ``run_seed``/``sweep`` run seeded fault schedules (``nemesis``; the faults
  themselves are in ``faults``) with safety checks after every step
  (``checkers``), a liveness check after healing and, with a client
  ``Workload``, a linearizability check of the history (``linearizability``);
- ``replay``/``shrink`` reproduce and minimise failures; ``Trace`` and
  ``diagram`` draw them. See docs/simulation.md.
"""

from pyconsensus.sim.checker import (
    Checker,
    ClusterView,
    CommittedLog,
    InvariantViolation,
    Violation,
)
from pyconsensus.sim.harness import Harness
from pyconsensus.sim.history import History, Operation
from pyconsensus.sim.linearizability import Model, check
from pyconsensus.sim.network import NetworkConfig
from pyconsensus.sim.proposal_client import ClientConfig, ProposalClient
from pyconsensus.sim.session_client import SessionClient, SessionClientConfig
from pyconsensus.sim.simulation import SimConfig, SimStats, Simulation
from pyconsensus.sim.specs import ProtocolSpec, get_spec
from pyconsensus.sim.sweep import RunConfig, RunResult, run_seed, summarize, sweep
from pyconsensus.sim.trace import Trace
from pyconsensus.sim.workloads import Invocation, KVWorkload, Workload

__all__ = [
    "Checker",
    "ClientConfig",
    "ClusterView",
    "CommittedLog",
    "Harness",
    "History",
    "InvariantViolation",
    "Invocation",
    "KVWorkload",
    "Model",
    "NetworkConfig",
    "Operation",
    "ProposalClient",
    "ProtocolSpec",
    "RunConfig",
    "RunResult",
    "SessionClient",
    "SessionClientConfig",
    "SimConfig",
    "SimStats",
    "Simulation",
    "Trace",
    "Violation",
    "Workload",
    "check",
    "get_spec",
    "run_seed",
    "summarize",
    "sweep",
]
