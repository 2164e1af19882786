"""SimCluster: a story told in virtual time, the same every run."""

from __future__ import annotations

import pytest

from pyconsensus.testing import PROTOCOLS, SimCluster, Timeout
from tests.testing.machines import load_example

Counter = load_example().Counter


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_an_acknowledged_write_survives_a_leader_crash(protocol: str) -> None:
    cluster = SimCluster(Counter, protocol=protocol, seed=4)
    client = cluster.client()
    assert client.call(b"+5") == b"5"
    old = cluster.wait_for_leader()
    cluster.crash(old)
    assert client.call(b"+2") == b"7"
    assert client.read(b"?") == b"7"
    cluster.restart(old)
    cluster.wait_until_converged()
    assert cluster.replica(old).machine.query(b"?") == b"7"


def test_without_a_quorum_a_call_gives_up_with_a_timeout_in_virtual_time() -> None:
    cluster = SimCluster(Counter, seed=2)
    leader = cluster.wait_for_leader()
    followers = [m for m in cluster.members if m != leader]
    for follower in followers:
        cluster.crash(follower)
    client = cluster.client()
    with pytest.raises(Timeout, match="no answer before t="):
        client.call(b"+1", timeout_ms=500)
    for follower in followers:
        cluster.restart(follower)
    total = client.call(b"+1")
    assert total in (b"1", b"2")  # the abandoned command may have committed after all
    assert client.read(b"?") == total


def test_a_retried_command_takes_effect_once() -> None:
    cluster = SimCluster(Counter, seed=7)
    client = cluster.client(attempt_timeout_ms=1)  # every attempt "times out" and is resent
    assert client.call(b"+3") == b"3"
    cluster.wait_until_converged()
    assert {cluster.replica(m).machine.query(b"?") for m in cluster.members} == {b"3"}


def test_snapshots_reach_a_replica_that_was_down() -> None:
    cluster = SimCluster(Counter, seed=9, compact_every=4)
    client = cluster.client()
    down = next(m for m in cluster.members if m != cluster.wait_for_leader())
    cluster.crash(down)
    for _ in range(12):
        client.call(b"+1")
    cluster.restart(down)
    cluster.wait_until_converged()
    replica = cluster.replica(down)
    assert replica.machine.query(b"?") == b"12"
    assert replica.counters["snapshots.restored"] >= 1


def test_the_same_seed_tells_the_same_story() -> None:
    def story() -> tuple[int, int | None]:
        cluster = SimCluster(Counter, seed=11)
        cluster.client().call(b"+1")
        return cluster.now, cluster.leader()

    assert story() == story()


def test_a_down_replica_is_named_in_the_error() -> None:
    cluster = SimCluster(Counter)
    cluster.crash(2)
    with pytest.raises(LookupError, match="node 2 is down"):
        cluster.replica(2)
