"""Sessions that expire by (virtual) time, under every nemesis: replicas that
reached the same index hold the same sessions, and the history stays
linearizable although clients lose their sessions."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest

from pyconsensus.core.node import ConsensusNode
from pyconsensus.rsm.replicated import ReplicatedStateMachine
from pyconsensus.sim import ProtocolSpec, RunConfig, Simulation, run_seed, summarize
from pyconsensus.sim.checkers.paxos import SPEC as PAXOS
from pyconsensus.sim.checkers.raft import SPEC as RAFT
from pyconsensus.sim.sweep import SweepResult
from pyconsensus.sim.workloads import KVWorkload

TIMEOUT_MS = 300  # shorter than many outages the nemesis makes


class TimedKV(KVWorkload):
    """The key-value workload with sessions that expire after ``TIMEOUT_MS``."""

    def replicate(self, node: ConsensusNode, compact_every: int) -> ReplicatedStateMachine:
        return ReplicatedStateMachine(
            node, self.new_machine(), compact_every=compact_every, session_timeout_ms=TIMEOUT_MS
        )


@pytest.mark.parametrize("spec", [RAFT, PAXOS], ids=["raft", "paxos"])
def test_replicas_agree_on_expired_sessions_under_every_nemesis(spec: ProtocolSpec) -> None:
    config = RunConfig(workload="custom", check_linearizability=True, nemesis=("all",))
    result = SweepResult(spec.name)
    seen: Counter[str] = Counter()
    compared = 0
    for seed in range(40):
        sims: list[Simulation] = []
        run = run_seed(spec, seed, config, workload=TimedKV, instrument=sims.append)
        result.add(run)
        by_index: dict[int, set[bytes]] = defaultdict(set)
        for app in sims[0].apps.values():
            if app is not None:
                by_index[app.applied].add(app.snapshot())
                seen.update(app.counters)
        assert all(len(states) == 1 for states in by_index.values()), f"seed {seed}"
        compared += sum(1 for app in sims[0].apps.values() if app is not None)
    assert result.ok, summarize(result, spec.properties)
    assert result.checks_unknown == 0
    assert seen["sessions.expired"] > 0 and seen["commands.expired"] > 0
    assert compared > 100
