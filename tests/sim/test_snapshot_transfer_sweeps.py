"""Snapshot transfer under the simulator's faults (issue 15): chunks lost,
duplicated, reordered and corrupted, leaders changing and nodes crashing
mid-transfer (also while staging) - and the invariants of
``pyconsensus.sim.snapshots`` after every step. Two broken Raft variants show
that those invariants bite."""

from __future__ import annotations

import pytest

from pyconsensus.core.transfer import TransferConfig
from pyconsensus.paxos import PaxosConfig
from pyconsensus.raft import RaftConfig, RaftNode
from pyconsensus.sim import RunConfig, summarize, sweep
from pyconsensus.sim.checkers import paxos, raft, zab
from pyconsensus.sim.network import NetworkConfig
from pyconsensus.zab import ZabConfig
from tests.raft.broken import EagerInstallRaft, TrustingRaft
from tests.sweeps import assert_caught

TINY = TransferConfig(chunk_size=4, window=2, retry_ticks=3)
HOSTILE = RunConfig(
    compact_every=16,
    network=NetworkConfig(
        min_delay_ms=1, max_delay_ms=8, loss=0.05, duplicate=0.05, reorder=True, corrupt=0.05
    ),
)
RAFT = raft.make_spec(RaftConfig(transfer=TINY))


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(RAFT, id="raft"),
        pytest.param(zab.make_spec(ZabConfig(transfer=TINY)), id="zab"),
        pytest.param(paxos.make_spec(PaxosConfig(transfer=TINY)), id="paxos"),
    ],
)
def test_chunk_loss_duplication_reordering_and_corruption_break_no_invariant(spec: object) -> None:
    result = sweep(spec, range(8), HOSTILE)  # type: ignore[arg-type]
    assert result.ok, summarize(result, spec.properties)  # type: ignore[attr-defined]


def test_corrupted_chunks_are_rejected_at_install_and_never_installed() -> None:
    result = sweep(RAFT, range(8), HOSTILE)
    assert result.ok, summarize(result, RAFT.properties)
    assert result.stats.snapshots_rejected > 0


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(EagerInstallRaft, id="installing-on-the-first-chunk"),
        pytest.param(TrustingRaft, id="trusting-an-unverified-checksum"),
    ],
)
def test_the_snapshot_invariants_catch_a_broken_transfer(variant: type[RaftNode]) -> None:
    broken = raft.make_spec(RaftConfig(transfer=TINY), node_class=variant)
    assert_caught(broken, RAFT, range(30), HOSTILE, {"Snapshot Integrity", "State Machine Safety"})
