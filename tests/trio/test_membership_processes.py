"""Membership change in a real cluster (issue 14 item 8): node processes on
loopback, LMDB on disk, clients writing all along. Each test records a
Jepsen-style client history and checks that it is linearizable (so no
acknowledged write is lost), and that every member ends with the same state."""

from __future__ import annotations

import json
import random
import shutil
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from pyconsensus.adapters.trio import Address, open_client
from pyconsensus.adapters.trio.admin import administer
from pyconsensus.adapters.trio.localcluster import LocalCluster, free_ports, open_local_cluster
from pyconsensus.adapters.trio.transport import REJOIN_HINT
from pyconsensus.service.messages import AdminRequest, ReplyStatus
from pyconsensus.sim.history import OK, History, counts
from pyconsensus.sim.linearizability import check
from tests.trio.test_processes import SETTINGS, TEST_BOUND, RecordingClient

pytestmark = pytest.mark.skipif(
    not Path("/proc").exists(), reason="needs a Unix with /proc-style process control"
)

KEYS = [b"a", b"b", b"c"]


async def _admin(
    members: dict[int, Address], operation: str, node: int = -1, address: str = ""
) -> dict[str, object]:
    reply = await administer(
        members, "local", AdminRequest(0, operation, node, -1, address, ""), timeout=60
    )
    assert reply.status == ReplyStatus.OK, reply
    return json.loads(reply.result) if operation == "members" else {}


async def _voters(members: dict[int, Address]) -> set[int]:
    document = await _admin(members, "members")
    listed = document["members"]
    assert isinstance(listed, list)
    return {m["id"] for m in listed if m["role"] == "voter"}


async def _incarnations_recorded(members: dict[int, Address]) -> bool:
    listed = (await _admin(members, "members"))["members"]
    assert isinstance(listed, list)
    return all(m["incarnation"] for m in listed)


async def _wait_voters(members: dict[int, Address], wanted: set[int]) -> None:
    with trio.fail_after(60):
        while await _voters(members) != wanted:
            await trio.sleep(0.1)


async def _checked_under_load(
    members: dict[int, Address],
    change: Callable[[], Awaitable[None]],
    final: dict[int, Address],
) -> None:
    """``change`` under load; then the history must be linearizable and the
    ``final`` members must hold the same state."""
    _linearizable(await _under_load(members, change))
    await _same_state(final)


async def _under_load(
    members: dict[int, Address], change: Callable[[], Awaitable[None]]
) -> History:
    """Four clients write and read while ``change`` runs, and a while after."""
    history = History()
    progress: Counter[str] = Counter()
    began = trio.current_time()
    done = trio.Event()

    async def client(number: int) -> None:
        async with open_client(
            members, "local", timeout=2.0, attempt_timeout=0.5, seed=number
        ) as c:
            recorder = RecordingClient(
                c, history, number, began, KEYS, random.Random(number), progress
            )
            await recorder.run_until(lambda: done.is_set() and progress[OK] >= 100)

    async def changes() -> None:
        await trio.sleep(0.5)
        await change()
        done.set()

    async with trio.open_nursery() as nursery:
        for number in range(1, 5):
            nursery.start_soon(client, number)
        nursery.start_soon(changes)
    return history


def _linearizable(history: History) -> None:
    operations = history.operations()
    assert sum(op.status == OK for op in operations) >= 100
    result = check(operations)
    print(f"history: {counts(operations)}, explored {result.explored}")
    assert result.valid is True, result.failure.explain() if result.failure else result


async def _same_state(members: dict[int, Address]) -> None:
    """Every member applied the same commands (equal state digests)."""
    async with open_client(members, "local", timeout=5.0) as client:
        with trio.fail_after(60):
            while True:
                replies = [await client.status(n, detail=1) for n in sorted(members)]
                top = max(r.commit_index for r in replies)
                caught_up = all(r.applied_index == top for r in replies)
                if caught_up and len({r.digest for r in replies}) == 1:
                    return
                await trio.sleep(0.1)


@asynccontextmanager
async def _three_nodes(
    tmp_path: Path,
) -> AsyncIterator[tuple[LocalCluster, dict[int, Address], int]]:
    """Three node processes once they elected a leader: the cluster, its
    members' addresses and the leader's id."""
    async with open_local_cluster(tmp_path, settings=SETTINGS) as cluster:
        async with cluster.client() as c:
            leader = await cluster.wait_for_leader(c)
        yield cluster, dict(cluster.members), leader.node_id


async def test_a_cluster_grows_from_three_to_five_under_load(tmp_path: Path) -> None:
    with trio.fail_after(TEST_BOUND):
        async with _three_nodes(tmp_path) as (cluster, members, _):
            ports = free_ports(2)
            grown = members | {4: Address("127.0.0.1", ports[0]), 5: Address("127.0.0.1", ports[1])}

            async def grow() -> None:
                for node in (4, 5):
                    listen = str(grown[node])
                    await cluster.start(node, extra=["--join", "--listen", listen])
                await _wait_voters(members, {1, 2, 3, 4, 5})

            await _checked_under_load(members, grow, grown)


async def test_a_node_whose_data_was_wiped_is_refused_then_replaced(tmp_path: Path) -> None:
    with trio.fail_after(TEST_BOUND):
        async with _three_nodes(tmp_path) as (cluster, members, leader):
            wiped = next(n for n in members if n != leader)
            # Every member's incarnation is in the configuration (trust on first sight).
            with trio.fail_after(60):
                while not await _incarnations_recorded(members):
                    await trio.sleep(0.1)

            async def replace() -> None:
                cluster.kill(wiped)
                await cluster.wait_exit(wiped)
                shutil.rmtree(tmp_path / "data" / f"node-{wiped}")
                await cluster.start(wiped)  # as its old self: refused
                with trio.fail_after(60):
                    while REJOIN_HINT not in cluster.log_path(wiped).read_text():
                        await trio.sleep(0.1)
                await cluster.stop(wiped)
                await _admin(members, "remove", wiped)
                shutil.rmtree(tmp_path / "data" / f"node-{wiped}")
                await cluster.start(wiped, extra=["--join"])  # re-added, a new incarnation
                await _wait_voters(members, set(members))

            await _checked_under_load(members, replace, members)


async def test_leadership_moves_during_writes(tmp_path: Path) -> None:
    with trio.fail_after(TEST_BOUND):
        async with _three_nodes(tmp_path) as (_, members, first):
            moved: list[int] = []

            async def transfer() -> None:
                leader = first
                for _ in range(3):
                    target = next(n for n in sorted(members) if n != leader)
                    await _admin(members, "transfer-leader", target)
                    moved.append(target)
                    leader = target
                    await trio.sleep(0.3)

            await _checked_under_load(members, transfer, members)
            assert len(moved) == 3
