"""Deterministic simulation: run any protocol core on virtual time with injected faults.

- ``Simulation`` plays a cluster forward event by event from one seed;
- ``Harness`` drives nodes by hand for scenario tests (and ``transcript`` files);
- ``run_seed``/``sweep`` run seeded fault schedules (``nemesis``) with safety
  checks after every step, a liveness check after healing and, with a client
  ``Workload``, a linearizability check of the history (``linearizability``);
- ``replay``/``shrink`` reproduce and minimise failures; ``Trace`` and
  ``diagram`` draw them. See docs/simulation.md.
"""

from pyconsensus.sim.checker import Checker, CommittedLog, InvariantViolation, Violation
from pyconsensus.sim.clients import SessionClient, SessionClientConfig
from pyconsensus.sim.faults import (
    Bridge,
    ClockJump,
    Crash,
    CrashLeader,
    CrashMidWrite,
    Fault,
    Heal,
    IsolateLeader,
    OneWay,
    Partition,
    Restart,
    RestartAll,
    Scheduled,
    SetNetwork,
    Skew,
    random_schedule,
)
from pyconsensus.sim.harness import Harness
from pyconsensus.sim.history import History, Operation
from pyconsensus.sim.linearizability import KVModel, LinearizabilityResult, Model, check
from pyconsensus.sim.nemesis import nemesis_schedule
from pyconsensus.sim.network import Network, NetworkConfig
from pyconsensus.sim.simulation import SimConfig, SimStats, Simulation
from pyconsensus.sim.specs import ProtocolSpec, get_spec
from pyconsensus.sim.sweep import RunConfig, RunResult, SweepResult, run_seed, summarize, sweep
from pyconsensus.sim.trace import Trace
from pyconsensus.sim.workload import ClientConfig, ProposalClient
from pyconsensus.sim.workloads import Invocation, KVWorkload, Workload

__all__ = [
    "Bridge",
    "Checker",
    "ClockJump",
    "ClientConfig",
    "CommittedLog",
    "Crash",
    "CrashLeader",
    "CrashMidWrite",
    "Fault",
    "Harness",
    "Heal",
    "History",
    "InvariantViolation",
    "Invocation",
    "IsolateLeader",
    "KVModel",
    "KVWorkload",
    "LinearizabilityResult",
    "Model",
    "Network",
    "NetworkConfig",
    "OneWay",
    "Operation",
    "Partition",
    "ProposalClient",
    "ProtocolSpec",
    "Restart",
    "RestartAll",
    "RunConfig",
    "RunResult",
    "Scheduled",
    "SessionClient",
    "SessionClientConfig",
    "SetNetwork",
    "SimConfig",
    "SimStats",
    "Simulation",
    "Skew",
    "SweepResult",
    "Trace",
    "Violation",
    "Workload",
    "check",
    "get_spec",
    "nemesis_schedule",
    "random_schedule",
    "run_seed",
    "summarize",
    "sweep",
]
