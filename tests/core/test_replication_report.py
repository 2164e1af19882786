"""``ReportsReplication``: a leader tells how far each peer holds its log.

Operators see it as the runtime's ``PeerStatus.match_index`` and the
``pyconsensus_peer_match_index`` metric, for every protocol with a leader.
"""

from __future__ import annotations

import pytest

from pyconsensus.core.node import ReportsReplication
from pyconsensus.testing import SimCluster
from tests.testing.machines import load_example

PROTOCOLS = ("raft", "zab", "paxos")


def _cluster(protocol: str) -> SimCluster:
    cluster = SimCluster(load_example().Counter, protocol=protocol, seed=3)
    client = cluster.client()
    for _ in range(5):
        client.call(b"+1")
    cluster.wait_until_converged()
    cluster.run_for(500)  # heartbeats carry the last acknowledgements
    return cluster


def _last_index(cluster: SimCluster, member: int) -> int:
    node = cluster.sim.nodes[member]
    assert node is not None
    return node.status().last_index


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_the_leader_reports_every_peer_holding_its_log(protocol: str) -> None:
    cluster = _cluster(protocol)
    leader = cluster.wait_for_leader()
    node: object = cluster.sim.nodes[leader]
    assert isinstance(node, ReportsReplication)
    replicated = node.replication()
    last = _last_index(cluster, leader)
    assert set(replicated) == set(cluster.members) - {leader}
    assert all(index == last for index in replicated.values()), (replicated, last)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_follower_reports_no_replication(protocol: str) -> None:
    cluster = _cluster(protocol)
    leader = cluster.wait_for_leader()
    for member in cluster.members:
        node: object = cluster.sim.nodes[member]
        if member != leader:
            assert isinstance(node, ReportsReplication)
            assert node.replication() == {}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_crashed_peer_falls_behind_in_the_report(protocol: str) -> None:
    cluster = _cluster(protocol)
    leader = cluster.wait_for_leader()
    lagging = next(m for m in cluster.members if m != leader)
    cluster.crash(lagging)
    client = cluster.client()
    for _ in range(3):
        client.call(b"+1")
    node: object = cluster.sim.nodes[cluster.wait_for_leader()]
    assert isinstance(node, ReportsReplication)
    replicated = node.replication()
    last = _last_index(cluster, cluster.wait_for_leader())
    assert replicated.get(lagging, 0) < last
    assert any(index == last for peer, index in replicated.items() if peer != lagging)
