"""Mutation tests: each deliberately broken variant is caught within a bounded
number of seeds, and the correct code passes the very same seeds.

A checker that cannot fail proves nothing; these show which checker catches
which bug, and under which faults.
"""

from __future__ import annotations

import attrs

from pyconsensus.raft import RaftConfig
from pyconsensus.sim import RunConfig, sweep
from pyconsensus.sim.checkers.raft import SPEC, make_spec
from pyconsensus.sim.network import NetworkConfig
from tests.sim.broken import DoubleVoter, EagerLeader, ForgetfulKV, LeaselessReader

KV = RunConfig(workload="kv", check_linearizability=True)


def test_a_follower_that_votes_twice_is_caught_once_elections_are_contested() -> None:
    """Two leaders in one term need two candidates asking the same follower in
    the same term. The clock-jump nemesis makes every node's timer expire at
    once, so such split votes happen in almost every run."""
    config = attrs.evolve(KV, nemesis=("elections",))
    broken = sweep(make_spec(node_class=DoubleVoter), range(10), config, stop_on_failure=True)
    assert broken.failures, "two votes in one term went unnoticed"
    violation = broken.failures[0].violation
    assert violation is not None and violation.property == "Election Safety"
    assert sweep(SPEC, broken.seeds, config).ok


def test_without_pre_vote_and_with_short_timeouts_double_votes_are_caught_too() -> None:
    """The same bug under a contested profile: no PreVote, election timeouts
    (30-50 ms) close to message delays (5-30 ms), no faults at all."""
    options = RaftConfig(pre_vote=False, election_ticks=3)
    config = attrs.evolve(
        KV, faults=frozenset(), network=NetworkConfig(min_delay_ms=5, max_delay_ms=30)
    )
    broken = sweep(
        make_spec(options, node_class=DoubleVoter), range(10), config, stop_on_failure=True
    )
    assert broken.failures
    violation = broken.failures[0].violation
    assert violation is not None
    assert violation.property in {"Election Safety", "Log Matching", "Leader Append-Only"}
    assert sweep(make_spec(options), broken.seeds, config).ok


def test_a_leader_that_acknowledges_before_a_quorum_is_caught() -> None:
    """The leader answers as soon as the entry is in its own log. When the
    entry is then lost, the replication layer finds that the command it was
    told had committed never reached the state machine."""
    broken = sweep(make_spec(node_class=EagerLeader), range(20), KV, stop_on_failure=True)
    assert broken.failures
    violation = broken.failures[0].violation
    assert violation is not None
    assert violation.property in {"Acknowledged Writes", "Linearizability"}
    assert sweep(SPEC, broken.seeds, KV).ok


def test_reads_without_read_index_are_caught_only_by_the_linearizability_check() -> None:
    """A leader answers reads from its commit index without confirming it
    still leads. No invariant of the protocol notices; the history does."""
    config = attrs.evolve(KV, nemesis=("all",), clients=5, keys=2)
    spec = make_spec(node_class=LeaselessReader)
    broken = sweep(spec, range(30), config, stop_on_failure=True)
    assert broken.failures, "a stale read went unnoticed"
    violation = broken.failures[0].violation
    assert violation is not None and violation.property == "Linearizability"
    unchecked = attrs.evolve(config, check_linearizability=False)
    assert sweep(spec, broken.seeds, unchecked).ok
    assert sweep(SPEC, broken.seeds, config).ok


def test_a_replication_layer_without_sessions_applies_retries_twice() -> None:
    """Retried appends (same session sequence number) must take effect once;
    without the session table, a read shows the suffix twice."""
    broken = sweep(SPEC, range(30), KV, stop_on_failure=True, workload=ForgetfulKV)
    assert broken.failures
    violation = broken.failures[0].violation
    assert violation is not None and violation.property == "Linearizability"
    assert sweep(SPEC, broken.seeds, KV).ok
