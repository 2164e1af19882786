"""Test your own replicated state machine under every fault, from pytest, in seconds.

The stable testing API of pyconsensus (docs/testing.md is the tutorial):

- ``SimCluster``: your machine on a simulated cluster, driven by hand in
  virtual time (clients, crashes, partitions, waiting for conditions);
- ``Scenario`` and ``expect_ok``: a seeded run of your ``Workload`` with a
  nemesis and a linearizability check; a failure raises ``SimulationFailed``
  with the seed, a replay and a picture (``replay`` runs a replay again);
- ``assert_linearizable(history, model)``;
- ``check_determinism(machine, commands)`` (and ``pyconsensus.cli.hashseeds.
  check_across_hash_seeds`` across processes);
- ``strategies`` (needs Hypothesis): fault schedules, scenarios and command
  sequences for ``@given``;
- a pytest plugin (``pyconsensus.testing.plugin``), registered by the
  library's entry point: the ``consensus_sim`` fixture and parametrisation
  over protocols, seeds and nemeses.
"""

from pyconsensus.sim.history import History, Operation
from pyconsensus.sim.linearizability import KVModel, Model
from pyconsensus.sim.workloads import Invocation, KVWorkload, Workload
from pyconsensus.testing.assertions import assert_linearizable
from pyconsensus.testing.cluster import Call, SimClient, SimCluster
from pyconsensus.testing.determinism import DeterminismReport, check_determinism
from pyconsensus.testing.errors import NonDeterministic, NotLinearizable, SimulationFailed, Timeout
from pyconsensus.testing.runs import PROTOCOLS, Scenario, expect_ok, replay, run_scenario

__all__ = [
    "PROTOCOLS",
    "Call",
    "DeterminismReport",
    "History",
    "Invocation",
    "KVModel",
    "KVWorkload",
    "Model",
    "NonDeterministic",
    "NotLinearizable",
    "Operation",
    "Scenario",
    "SimClient",
    "SimCluster",
    "SimulationFailed",
    "Timeout",
    "Workload",
    "assert_linearizable",
    "check_determinism",
    "expect_ok",
    "replay",
    "run_scenario",
]
