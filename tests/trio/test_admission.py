"""Client work is admitted within a bound and fed to the core in helpings, so
that ticks and peer messages never queue behind it; a node that holds too many
requests answers ``busy`` and clients come back later."""

from __future__ import annotations

from pathlib import Path

import trio

from pyconsensus.adapters.trio import open_client
from pyconsensus.adapters.trio.admission import Admission
from pyconsensus.rsm import kv
from pyconsensus.rsm.replicated import Outcome
from pyconsensus.service.messages import Query
from tests.trio.support import a_follower, addresses_of, running_cluster, the_leader, wait_for


def test_admission_refuses_beyond_its_bound_and_feeds_in_helpings() -> None:
    admission = Admission(max_pending=5, per_batch=2)
    answers: list[Outcome | None] = []
    for i in range(4):
        assert admission.admit(Query(i, b"q", False), answers.append, in_core=1)
    assert not admission.admit(Query(9, b"q", False), answers.append, in_core=1)
    assert admission.refused == 1
    first = admission.take()
    assert [request.request_id for request, _ in first] == [0, 1]  # oldest first, two at most
    assert len(admission) == 2
    admission.release()  # the node stops: the rest are answered with None
    assert answers == [None, None] and len(admission) == 0


async def test_a_busy_node_refuses_at_once_and_clients_retry_until_served(
    tmp_path: Path,
) -> None:
    with trio.fail_after(60):
        async with running_cluster(tmp_path, max_pending_requests=2, requests_per_batch=1) as nodes:
            leader = the_leader(nodes)
            addresses = addresses_of(nodes)
            async with open_client(addresses, "test", timeout=30) as client:
                results: list[bytes] = []

                async def write(i: int) -> None:
                    session = client.new_session()
                    results.append(await session.propose(kv.put(b"k%d" % i, b"v")))

                async with trio.open_nursery() as nursery:
                    for i in range(20):
                        nursery.start_soon(write, i)
            assert results == [kv.OK] * 20  # every one served, in the end
            assert leader.status().counters["requests.busy"] > 0  # ...after some were refused


async def test_peers_are_added_and_removed_while_the_node_runs(tmp_path: Path) -> None:
    with trio.fail_after(60):
        async with running_cluster(tmp_path) as nodes:
            leader = the_leader(nodes)
            follower = a_follower(nodes)
            address = leader.links[follower.node_id].address
            leader.remove_peer(follower.node_id)
            assert follower.node_id not in leader.links
            assert not leader.is_peer(follower.node_id)
            # The other follower still makes a quorum.
            assert await leader.propose(kv.put(b"while", b"removed")) == kv.OK
            commit = leader.status().commit_index
            leader.add_peer(follower.node_id, address)
            await wait_for(lambda: follower.status().applied_index >= commit, timeout=20)
            assert leader.is_peer(follower.node_id)
