"""Deterministic simulation: run any protocol core on virtual time with injected faults.

- ``Simulation`` plays a cluster forward event by event from one seed;
- ``Harness`` drives nodes by hand for scenario tests;
- ``run_seed``/``sweep`` run seeded fault schedules with safety checks after
  every step and a liveness check after healing.
"""

from pyconsensus.sim.checker import Checker, CommittedLog, InvariantViolation, Violation
from pyconsensus.sim.faults import (
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
from pyconsensus.sim.network import Network, NetworkConfig
from pyconsensus.sim.protocols import ProtocolSpec, available, get_protocol
from pyconsensus.sim.simulation import SimConfig, SimStats, Simulation
from pyconsensus.sim.sweep import RunConfig, RunResult, SweepResult, run_seed, summarize, sweep
from pyconsensus.sim.workload import ClientConfig, ProposalClient

__all__ = [
    "Checker",
    "ClientConfig",
    "CommittedLog",
    "Crash",
    "CrashLeader",
    "CrashMidWrite",
    "Fault",
    "Harness",
    "Heal",
    "InvariantViolation",
    "IsolateLeader",
    "Network",
    "NetworkConfig",
    "OneWay",
    "Partition",
    "ProposalClient",
    "ProtocolSpec",
    "Restart",
    "RestartAll",
    "RunConfig",
    "RunResult",
    "Scheduled",
    "SetNetwork",
    "SimConfig",
    "SimStats",
    "Simulation",
    "Skew",
    "SweepResult",
    "Violation",
    "available",
    "get_protocol",
    "random_schedule",
    "run_seed",
    "summarize",
    "sweep",
]
