"""Seeded fault sweeps: zero violations for Multi-Paxos, and a broken variant caught."""

from __future__ import annotations

import pytest

from pyconsensus.cli import main
from pyconsensus.core.types import Entry, EntryKind
from pyconsensus.paxos import MultiPaxosNode, PaxosConfig
from pyconsensus.paxos.leader import Leader
from pyconsensus.sim import RunConfig, summarize, sweep
from pyconsensus.sim.checkers.paxos import SPEC, make_spec


class _ForgetfulLeader(Leader):
    def recovered_entry(self, slot: int, highest: Entry | None, term: int) -> Entry:
        return Entry(slot, term, b"", EntryKind.NOOP)


class ForgetfulProposer(MultiPaxosNode):
    """Broken on purpose: a new leader ignores the values its promises report
    (and its own) and fills every recovered slot with a no-op."""

    leader_class = _ForgetfulLeader


def test_sweep_of_200_seeds_with_every_fault_finds_no_violation() -> None:
    result = sweep(SPEC, range(200), RunConfig())
    assert result.ok, summarize(result, SPEC.properties)
    stats = result.stats
    # Evidence that the faults bit and the cluster still did its job.
    assert stats.crashes > 100 and stats.partitions > 100 and stats.network_storms > 100
    assert stats.leader_changes > 50
    assert stats.committed > 20_000


def test_sweep_without_leases_finds_no_violation_and_no_livelock() -> None:
    spec = make_spec(PaxosConfig(lease=False))
    result = sweep(spec, range(1_000, 1_030), RunConfig())
    assert result.ok, summarize(result, spec.properties)


def test_sweep_of_five_node_clusters_finds_no_violation() -> None:
    result = sweep(SPEC, range(2_000, 2_020), RunConfig(nodes=5))
    assert result.ok, summarize(result, SPEC.properties)


def test_sweep_catches_a_proposer_that_ignores_accepted_values() -> None:
    spec = make_spec(node_class=ForgetfulProposer)
    result = sweep(spec, range(20), RunConfig(), stop_on_failure=True)
    assert not result.ok
    violation = result.failures[0].violation
    assert violation is not None
    assert violation.property in (
        "Chosen Uniqueness",
        "Learned Only Chosen",
        "State Machine Safety",
    )
    assert len(result.seeds) <= 20


def test_cli_sweeps_paxos(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--protocol", "paxos", "--seeds", "3", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "protocol        paxos" in out
    assert "Chosen Uniqueness" in out
    assert "violations      0" in out
