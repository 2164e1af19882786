"""Seeded fault sweeps of every primitive, and proof that the checkers bite."""

from __future__ import annotations

import importlib.util

import attrs
import pytest

from pyconsensus.broadcast import BroadcastConfig
from pyconsensus.sim import ProtocolSpec, RunConfig, summarize, sweep
from pyconsensus.sim.broadcast_sweep import (
    BroadcastRunConfig,
    BroadcastSweepResult,
    broadcast_sweep,
    run_broadcast_seed,
    summarize_broadcast,
)
from pyconsensus.sim.checkers.broadcast import (
    ATOMIC_PAXOS_SPEC,
    ATOMIC_RAFT_SPEC,
    ATOMIC_ZAB_SPEC,
    BEST_EFFORT_SPEC,
    EAGER_SPEC,
    LAZY_SPEC,
    BroadcastSafety,
    TotalOrder,
    make_atomic_spec,
    make_spec,
)
from tests.broadcast.broken import (
    ForgetfulAtomic,
    NeverRelays,
    NoDeduplication,
    NoRelay,
    Tampering,
)
from tests.sweeps import assert_caught, soak

HAVE_ZAB = importlib.util.find_spec("pyconsensus.zab") is not None
FIVE = BroadcastRunConfig(nodes=5)
SENDER_CRASHES_ONLY = BroadcastRunConfig(faults=frozenset(), sender_crashes=3)
LOSS_ONLY = BroadcastRunConfig(faults=frozenset({"loss"}))


def assert_clean(result: BroadcastSweepResult, spec: ProtocolSpec) -> None:
    assert result.ok, summarize_broadcast(result, spec.properties)
    stats = result.stats
    # The faults bit and the group kept working through them.
    assert stats.crashes > len(result.seeds) and stats.restarts > len(result.seeds)
    assert stats.dropped_loss > 0 and stats.dropped_partition > 0 and stats.duplicated > 0
    assert result.broadcasts > 50 * len(result.seeds)
    assert stats.proposals_acked > 0


@pytest.mark.parametrize("seeds", soak(range(100), fast=25))
def test_best_effort_sweep_of_100_seeds(seeds: range) -> None:
    result = broadcast_sweep(BEST_EFFORT_SPEC, seeds)
    assert_clean(result, BEST_EFFORT_SPEC)
    assert result.counters["sent.retransmitted"] > 0
    assert result.counters["relayed"] == 0


@pytest.mark.parametrize("seeds", soak(range(200), fast=50))
def test_eager_reliable_sweep_of_200_seeds(seeds: range) -> None:
    result = broadcast_sweep(EAGER_SPEC, seeds)
    assert_clean(result, EAGER_SPEC)
    assert result.counters["relayed"] > result.broadcasts // 2


@pytest.mark.parametrize("seeds", soak(range(200), fast=50))
def test_lazy_reliable_sweep_of_200_seeds(seeds: range) -> None:
    result = broadcast_sweep(LAZY_SPEC, seeds)
    assert_clean(result, LAZY_SPEC)
    counters = result.counters
    assert counters["suspected"] > 0 and counters["relayed"] > 0
    # Relays are the exception, and what is stable is forgotten.
    assert counters["relayed"] < result.broadcasts // 2
    assert counters["forgotten.stable"] > result.broadcasts


@pytest.mark.parametrize("spec", [EAGER_SPEC, LAZY_SPEC], ids=["eager", "lazy"])
def test_five_member_groups(spec: ProtocolSpec) -> None:
    result = broadcast_sweep(spec, range(1_000, 1_030), FIVE)
    assert result.ok, summarize_broadcast(result, spec.properties)


@pytest.mark.parametrize("seeds", soak(range(100), fast=25))
def test_atomic_broadcast_over_raft_sweep_of_100_seeds(seeds: range) -> None:
    result = broadcast_sweep(ATOMIC_RAFT_SPEC, seeds)
    assert_clean(result, ATOMIC_RAFT_SPEC)
    assert result.counters["forward.sent"] > 0
    assert result.counters["snapshots.installed"] > 0
    assert result.counters["suppressed.duplicate"] > 0


@pytest.mark.parametrize("seeds", soak(range(100), fast=25))
def test_atomic_broadcast_over_paxos_sweep_of_100_seeds(seeds: range) -> None:
    result = broadcast_sweep(ATOMIC_PAXOS_SPEC, seeds)
    assert_clean(result, ATOMIC_PAXOS_SPEC)


@pytest.mark.skipif(not HAVE_ZAB, reason="ZAB not merged yet")
@pytest.mark.parametrize("seeds", soak(range(60), fast=15))
def test_atomic_broadcast_over_zab_sweep_of_60_seeds(seeds: range) -> None:
    result = broadcast_sweep(ATOMIC_ZAB_SPEC, seeds)
    assert_clean(result, ATOMIC_ZAB_SPEC)


@pytest.mark.parametrize("spec", [ATOMIC_RAFT_SPEC, ATOMIC_PAXOS_SPEC], ids=["raft", "paxos"])
def test_atomic_broadcast_passes_the_generic_consensus_sweep(spec: ProtocolSpec) -> None:
    """Its clients, State Machine Safety and liveness check, unchanged."""
    result = sweep(spec, range(20), RunConfig())
    assert result.ok, summarize(result, spec.properties)


def test_a_seed_reproduces_its_run_exactly() -> None:
    first = run_broadcast_seed(LAZY_SPEC, 17)
    second = run_broadcast_seed(LAZY_SPEC, 17)
    assert first == second


# -- the checkers bite ----------------------------------------------------------


ANY = BroadcastRunConfig()


@attrs.frozen
class Row:
    broken: ProtocolSpec
    correct: ProtocolSpec
    properties: frozenset[str]
    config: BroadcastRunConfig = ANY


AGREEMENT = frozenset({"Agreement"})
NO_DUPLICATION = frozenset({"No Duplication"})
EAGER_NO_RETRANSMISSION = make_spec("eager", BroadcastConfig(retransmit_ticks=0))
LAZY_NO_RETRANSMISSION = make_spec("lazy", BroadcastConfig(retransmit_ticks=0))

TABLE = {
    # Sender crashes mid-broadcast alone suffice to expose it.
    "a-relay-that-never-happens-breaks-agreement": Row(
        make_spec("eager", node_class=NoRelay), EAGER_SPEC, AGREEMENT, SENDER_CRASHES_ONLY
    ),
    "a-lazy-member-that-never-relays-breaks-agreement": Row(
        make_spec("lazy", node_class=NeverRelays), LAZY_SPEC, AGREEMENT
    ),
    "delivering-duplicates-breaks-no-duplication": Row(
        make_spec("eager", node_class=NoDeduplication), EAGER_SPEC, NO_DUPLICATION
    ),
    "a-tampering-relay-breaks-no-creation": Row(
        make_spec("eager", node_class=Tampering), EAGER_SPEC, frozenset({"No Creation"})
    ),
    "atomic-broadcast-over-raft-without-deduplication-breaks-no-duplication": Row(
        make_atomic_spec("raft", node_class=ForgetfulAtomic), ATOMIC_RAFT_SPEC, NO_DUPLICATION
    ),
    "atomic-broadcast-over-paxos-without-deduplication-breaks-no-duplication": Row(
        make_atomic_spec("paxos", node_class=ForgetfulAtomic), ATOMIC_PAXOS_SPEC, NO_DUPLICATION
    ),
    # The link assumption made visible: without acknowledgements and
    # retransmission a lost copy is never replaced.
    "eager-reliable-broadcast-over-lossy-links-needs-retransmission": Row(
        EAGER_NO_RETRANSMISSION, EAGER_SPEC, frozenset({"Validity", "Agreement"}), LOSS_ONLY
    ),
    "lazy-reliable-broadcast-over-lossy-links-needs-retransmission": Row(
        LAZY_NO_RETRANSMISSION, LAZY_SPEC, frozenset({"Validity", "Agreement"}), LOSS_ONLY
    ),
}


@pytest.mark.parametrize("row", TABLE.values(), ids=TABLE.keys())
def test_the_sweep_catches_a_broken_variant_that_the_correct_code_survives(row: Row) -> None:
    assert_caught(row.broken, row.correct, range(10), row.config, row.properties)


def test_reliable_broadcast_is_not_atomic() -> None:
    """Total Order catches members that deliver the same messages in different orders."""
    both = attrs.evolve(EAGER_SPEC, checkers=lambda: (BroadcastSafety(), TotalOrder()))
    assert_caught(both, (), range(10), ANY, {"Total Order"})


def test_a_generic_run_config_translates_to_a_broadcast_run() -> None:
    generic = RunConfig(nodes=5, duration_ms=1_000, faults=frozenset({"loss"}))
    config = BroadcastRunConfig.from_run_config(generic)
    assert (config.nodes, config.duration_ms, config.faults) == (5, 1_000, frozenset({"loss"}))
    assert config.network == generic.network
    assert run_broadcast_seed(LAZY_SPEC, 3, config).ok


def test_a_spec_without_broadcast_checkers_cannot_be_swept() -> None:
    with pytest.raises(ValueError):
        run_broadcast_seed(attrs.evolve(EAGER_SPEC, checkers=tuple), 0)
