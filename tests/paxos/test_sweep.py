"""Seeded fault sweeps: zero violations for Multi-Paxos, and a broken variant caught."""

from __future__ import annotations

import pytest

from pyconsensus.cli import main
from pyconsensus.paxos import MultiPaxosNode, PaxosConfig
from pyconsensus.sim import RunConfig, summarize, sweep
from pyconsensus.sim.checkers.paxos import SPEC, make_spec
from tests.paxos.broken import ForgetfulProposer
from tests.sweeps import assert_caught, soak


@pytest.mark.parametrize("seeds", soak(range(200), fast=50))
def test_sweep_of_200_seeds_with_every_fault_finds_no_violation(seeds: range) -> None:
    result = sweep(SPEC, seeds, RunConfig())
    assert result.ok, summarize(result, SPEC.properties)
    stats = result.stats
    # Evidence that the faults bit and the cluster still did its job.
    n = len(seeds)
    assert stats.crashes > n // 2 and stats.partitions > n // 2 and stats.network_storms > n // 2
    assert stats.leader_changes > n // 4
    assert stats.committed > 100 * n


def test_sweep_without_leases_finds_no_violation_and_no_livelock() -> None:
    spec = make_spec(PaxosConfig(lease=False))
    result = sweep(spec, range(1_000, 1_030), RunConfig())
    assert result.ok, summarize(result, spec.properties)


def test_sweep_of_five_node_clusters_finds_no_violation() -> None:
    result = sweep(SPEC, range(2_000, 2_020), RunConfig(nodes=5))
    assert result.ok, summarize(result, SPEC.properties)


@pytest.mark.parametrize(
    ("variant", "properties"),
    [
        pytest.param(
            ForgetfulProposer,
            {"Chosen Uniqueness", "Learned Only Chosen", "State Machine Safety"},
            id="a-proposer-ignoring-accepted-values",
        ),
    ],
)
def test_the_sweep_catches_a_broken_variant_that_the_correct_code_survives(
    variant: type[MultiPaxosNode], properties: set[str]
) -> None:
    assert_caught(make_spec(node_class=variant), SPEC, range(20), RunConfig(), properties)


def test_cli_sweeps_paxos(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--protocol", "paxos", "--seeds", "3", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "protocol        paxos" in out
    assert "Chosen Uniqueness" in out
    assert "violations      0" in out
