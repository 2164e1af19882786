"""The trio runtime in one process: the driver loop under each protocol, the
application API (forwarding, exactly-once, linearizable reads, status), the
client's honest timeouts, and prompt shutdown. Real sockets on loopback."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import trio

from pyconsensus.adapters.trio import (
    IndeterminateResult,
    NodeConfig,
    NodeStopped,
    Unavailable,
    open_client,
    open_node,
)
from pyconsensus.adapters.trio.localcluster import free_ports
from pyconsensus.core.errors import NotLeader
from pyconsensus.core.node import pipelined
from pyconsensus.core.storage import MemoryStorage
from pyconsensus.core.types import Role
from pyconsensus.rsm import KVStateMachine, SessionCommand, kv
from tests.trio.support import (
    a_follower,
    addresses_of,
    members,
    running_cluster,
    the_leader,
    wait_for,
)


@pytest.mark.parametrize("protocol", ["raft", "zab", "paxos"])
async def test_every_protocol_commits_and_reads_through_the_driver(
    tmp_path: Path, protocol: str
) -> None:
    with trio.fail_after(30):
        async with running_cluster(tmp_path, protocol=protocol) as nodes:
            leader = the_leader(nodes)
            follower = a_follower(nodes)
            assert await leader.propose(kv.put(b"x", b"from the leader")) == kv.OK
            # A follower forwards the command to its leader.
            assert await follower.propose(kv.append(b"x", b", via a follower")) == kv.OK
            expected = b"from the leader, via a follower"
            for node in nodes.values():
                assert kv.decode_get(await node.read(kv.get(b"x"))) == expected
            commit = leader.status().commit_index
            await wait_for(lambda: all(n.status().applied_index >= commit for n in nodes.values()))
            states = {n.node_id: n.machine.snapshot() for n in nodes.values()}
            assert len(set(states.values())) == 1


@pytest.mark.parametrize(
    ("storage_writes", "pipelined_writes"),
    [
        ("auto", True),
        ("thread", True),
        ("inline", True),
        ("auto", False),
        ("thread", False),
        ("inline", False),
    ],
)
async def test_every_driver_mode_commits_durably_and_agrees(
    tmp_path: Path, storage_writes: str, pipelined_writes: bool
) -> None:
    """Writes in a worker thread or in the event loop, with or without the
    leader writing its log in parallel (thesis 10.2.1): the same results."""
    with trio.fail_after(30):
        async with running_cluster(
            tmp_path,
            durable=True,
            storage_writes=storage_writes,
            pipelined_writes=pipelined_writes,
        ) as nodes:
            leader = the_leader(nodes)
            assert pipelined(leader.core) is pipelined_writes
            async with trio.open_nursery() as nursery:
                for i in range(20):
                    nursery.start_soon(leader.propose, kv.put(b"k%d" % (i % 5), b"%d" % i))
            commit = leader.status().commit_index
            await wait_for(lambda: all(n.status().applied_index >= commit for n in nodes.values()))
            states = {n.machine.snapshot() for n in nodes.values()}
            assert len(states) == 1
            counters = leader.status().counters
            assert counters["storage.writes"] >= 1 and counters["send.eager_syscalls"] >= 1


async def test_status_reports_role_term_leader_indices_and_peer_progress(tmp_path: Path) -> None:
    with trio.fail_after(20):
        async with running_cluster(tmp_path) as nodes:
            leader = the_leader(nodes)
            for _ in range(5):
                await leader.propose(kv.put(b"k", b"v"))
            status = leader.status()
            assert status.role is Role.LEADER and status.leader == leader.node_id
            assert status.term >= 1
            assert status.applied_index == status.commit_index >= 6  # the no-op and 5 puts
            await wait_for(
                lambda: all(
                    p.match_index == leader.status().last_index for p in leader.status().peers
                )
            )
            assert all(p.connected for p in status.peers)
            follower = a_follower(nodes).status()
            assert follower.role is Role.FOLLOWER and follower.leader == leader.node_id
            assert all(p.match_index is None for p in follower.peers)


async def test_follower_without_forwarding_fails_with_the_leader_hint(tmp_path: Path) -> None:
    with trio.fail_after(20):
        async with running_cluster(tmp_path, forward=False) as nodes:
            leader = the_leader(nodes)
            follower = a_follower(nodes)
            await wait_for(lambda: follower.status().leader == leader.node_id)
            with pytest.raises(NotLeader) as caught:
                await follower.propose(kv.put(b"x", b"1"))
            assert caught.value.leader_hint == leader.node_id
            assert await leader.propose(kv.put(b"x", b"1")) == kv.OK


async def test_a_retried_session_command_takes_effect_once(tmp_path: Path) -> None:
    with trio.fail_after(20):
        async with running_cluster(tmp_path) as nodes:
            leader = the_leader(nodes)
            follower = a_follower(nodes)
            command = SessionCommand(client_id=4242, seq=1, payload=kv.append(b"log", b"+"))
            first = await leader.submit(command)
            again = await follower.submit(command)  # a retry, through another node
            assert first.result == again.result == kv.OK
            # The retry is a log entry of its own; the session answers it
            # from the saved result, at the index where the command took
            # effect, instead of applying it again.
            assert again.index == first.index
            assert kv.decode_get(await leader.read(kv.get(b"log"))) == b"+"
            assert leader.rsm.counters["commands.applied"] == 1
            assert leader.rsm.counters["commands.duplicate"] == 1


async def test_with_a_session_timeout_every_replica_keeps_the_leaders_clock(
    tmp_path: Path,
) -> None:
    before = time.time_ns() // 1_000_000
    with trio.fail_after(20):
        async with running_cluster(tmp_path, session_timeout=600.0) as nodes:
            leader = the_leader(nodes)
            command = SessionCommand(client_id=77, seq=1, payload=kv.put(b"x", b"1"))
            assert (await leader.submit(command)).result == kv.OK
            await wait_for(lambda: all(n.rsm.sessions.clock is not None for n in nodes.values()))
            clocks = {n.rsm.sessions.clock for n in nodes.values()}
            (clock,) = clocks  # the same on every replica: the leader's, from the log
            assert clock is not None and before <= clock <= time.time_ns() // 1_000_000
            assert all(n.rsm.session_timeout_ms == 600_000 for n in nodes.values())


async def test_client_follows_hints_to_the_leader_and_reads_its_writes(tmp_path: Path) -> None:
    with trio.fail_after(20):
        async with running_cluster(tmp_path) as nodes:
            leader = the_leader(nodes)
            addresses = addresses_of(nodes)
            async with open_client(addresses, "test", seed=1) as client:
                for i in range(20):
                    assert await client.propose(kv.put(b"k%d" % i, b"v%d" % i)) == kv.OK
                assert client.leader == leader.node_id
                assert kv.decode_get(await client.read(kv.get(b"k7"))) == b"v7"
                assert await client.propose(kv.cas(b"k7", b"v7", b"w")) == kv.SWAPPED
                assert await client.propose(kv.cas(b"k7", b"v7", b"z")) == kv.NOT_SWAPPED


async def test_client_reports_indeterminate_when_the_quorum_is_lost(tmp_path: Path) -> None:
    with trio.fail_after(20):
        async with running_cluster(tmp_path) as nodes:
            leader = the_leader(nodes)
            addresses = addresses_of(nodes)
            async with open_client(addresses, "test", attempt_timeout=0.3) as client:
                await client.propose(kv.put(b"a", b"1"))
                for node in nodes.values():
                    if node is not leader:
                        node.isolate(True)
                # The leader takes the command but can never commit it: nobody
                # can say whether it will take effect.
                with pytest.raises(IndeterminateResult):
                    await client.propose(kv.put(b"a", b"2"), timeout=1.5)


async def test_client_reports_unavailable_when_no_node_answers() -> None:
    addresses = {n + 1: f"127.0.0.1:{port}" for n, port in enumerate(free_ports(3))}
    with trio.fail_after(10):
        async with open_client(addresses, "test") as client:
            with pytest.raises(Unavailable):
                await client.propose(kv.put(b"a", b"1"), timeout=0.5)


async def test_shutdown_is_prompt_and_releases_waiting_requests(tmp_path: Path) -> None:
    addresses = members(3)
    config = NodeConfig("test", 1, addresses, data_dir=tmp_path, request_timeout=30)
    outcome: list[BaseException] = []
    async with trio.open_nursery() as nursery:
        async with open_node(config, KVStateMachine(), storage=MemoryStorage()) as node:

            async def propose() -> None:
                try:
                    await node.propose(kv.put(b"a", b"1"))
                except (NodeStopped, IndeterminateResult) as exc:
                    outcome.append(exc)

            nursery.start_soon(propose)
            await trio.sleep(0.2)  # alone, it can never commit
            closing = trio.current_time()
        assert trio.current_time() - closing < 1.0
    assert len(outcome) == 1
    with pytest.raises(NodeStopped):
        await node.propose(b"too late")
