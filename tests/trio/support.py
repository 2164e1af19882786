"""Helpers for the trio runtime tests: in-process clusters and polling."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio

from pyconsensus.adapters.lmdb import LmdbStorage
from pyconsensus.adapters.trio import Address, Node, NodeConfig, open_node
from pyconsensus.adapters.trio.localcluster import free_ports
from pyconsensus.core.storage import MemoryStorage, Storage
from pyconsensus.core.types import Role
from pyconsensus.rsm import KVStateMachine

TICK = 0.02
"""Seconds per tick in tests: elections take 200-400 ms, so that a loaded
machine (the suite shares two cores) does not depose leaders by accident."""


async def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``condition`` every 10 ms until it holds; ``trio.TooSlowError`` after ``timeout``."""
    with trio.fail_after(timeout):
        while not condition():
            await trio.sleep(0.01)


async def http_get(address: Address | tuple[str, int], raw: bytes) -> tuple[int, bytes]:
    """Send ``raw`` (an HTTP request) and return the answer's status and body."""
    host, port = (address.host, address.port) if isinstance(address, Address) else address
    stream = await trio.open_tcp_stream(host, port)
    async with stream:
        await stream.send_all(raw)
        answer = b""
        while chunk := await stream.receive_some(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def leader_of(nodes: dict[int, Node]) -> Node | None:
    """The node that leads, if exactly one does."""
    leaders = [n for n in nodes.values() if n.status().role is Role.LEADER]
    return leaders[0] if len(leaders) == 1 else None


def the_leader(nodes: dict[int, Node]) -> Node:
    """The node that leads; fails the test unless exactly one does."""
    leader = leader_of(nodes)
    assert leader is not None, "no single leader"
    return leader


def a_follower(nodes: dict[int, Node]) -> Node:
    """The first node (by id) that is not the leader."""
    leader = leader_of(nodes)
    return next(n for n in nodes.values() if n is not leader)


def addresses_of(nodes: dict[int, Node]) -> dict[int, Address]:
    """Each node's listening address, by id (what a client is given)."""
    return {n: node.config.address for n, node in nodes.items()}


def members(size: int) -> dict[int, Address]:
    return {i + 1: Address("127.0.0.1", port) for i, port in enumerate(free_ports(size))}


@asynccontextmanager
async def running_cluster(
    tmp_path: Path,
    *,
    protocol: str = "raft",
    size: int = 3,
    durable: bool = False,
    elsewhere: dict[int, Address] | None = None,
    **overrides: Any,
) -> AsyncIterator[dict[int, Node]]:
    """``size`` nodes in this process (one trio loop), each with its own port;
    LMDB storage if ``durable``, else ``MemoryStorage``. Members listed in
    ``elsewhere`` are not started: their address is given (a test's fake).
    Yields once a leader is elected."""
    addresses = members(size)
    addresses.update(elsewhere or {})
    nodes: dict[int, Node] = {}
    async with trio.open_nursery() as nursery:

        async def run(node_id: int, task_status: trio.TaskStatus[None]) -> None:
            settings = {"tick_interval": TICK} | overrides
            config = NodeConfig(
                "test",
                node_id,
                addresses,
                protocol=protocol,
                data_dir=tmp_path / f"node-{node_id}",
                **settings,
            )
            storage: Storage = (
                LmdbStorage(config.data_dir or tmp_path, cluster_id="test", node_id=node_id)
                if durable
                else MemoryStorage()
            )
            try:
                machine = KVStateMachine()
                async with open_node(config, machine, storage=storage, seed=node_id) as node:
                    nodes[node_id] = node
                    task_status.started()
                    await trio.sleep_forever()
            finally:
                storage.close()

        for node_id in addresses:
            if node_id not in (elsewhere or {}):
                await nursery.start(run, node_id)
        await wait_for(lambda: leader_of(nodes) is not None, timeout=15)
        yield nodes
        nursery.cancel_scope.cancel()
