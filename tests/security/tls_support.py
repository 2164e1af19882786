"""Helpers of the TLS tests: a CA with certificates, and in-process TLS clusters."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import trio

from pyconsensus.adapters.trio import (
    Address,
    Client,
    Node,
    NodeConfig,
    TlsConfig,
    open_client,
    open_node,
)
from pyconsensus.adapters.trio.certs import init_ca, issue
from pyconsensus.adapters.trio.identity import Role
from pyconsensus.core.storage import MemoryStorage
from pyconsensus.rsm import KVStateMachine
from tests.trio.support import TICK, leader_of, members, wait_for

CLUSTER = "test"


@attrs.frozen
class Certs:
    """A CA in ``directory`` and the certificates issued with it."""

    directory: Path
    cluster_id: str = CLUSTER

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    def node(self, member: int, ca: Path | None = None) -> TlsConfig:
        """Member ``member``'s ``TlsConfig`` (trusting ``ca``, default the CA)."""
        return TlsConfig(
            ca or self.ca,
            self.directory / f"node-{member}.pem",
            self.directory / f"node-{member}.key",
        )

    def client(self, name: str, role: Role = Role.WRITE, ca: Path | None = None) -> TlsConfig:
        """A client's ``TlsConfig``, issued on first use."""
        cert = self.directory / f"client-{name}.pem"
        if not cert.exists():
            issue(self.directory, client=name, role=role)
        return TlsConfig(ca or self.ca, cert, self.directory / f"client-{name}.key")


def make_certs(directory: Path, node_ids: Iterable[int], cluster_id: str = CLUSTER) -> Certs:
    """A CA for ``cluster_id`` with a certificate for each member."""
    init_ca(directory, cluster_id)
    for node_id in node_ids:
        issue(directory, member=node_id)
    return Certs(directory, cluster_id)


@asynccontextmanager
async def tls_cluster(
    certs: Certs, *, size: int = 3, tls_ca: Path | None = None, **overrides: Any
) -> AsyncIterator[dict[int, Node]]:
    """``size`` nodes in this process with mutual TLS (each with its own
    member certificate, trusting ``tls_ca``, default the CA's certificate);
    yields once a leader is elected."""
    addresses: dict[int, Address] = members(size)
    nodes: dict[int, Node] = {}
    async with trio.open_nursery() as nursery:

        async def run(node_id: int, task_status: trio.TaskStatus[None]) -> None:
            settings: dict[str, Any] = {"tick_interval": TICK, "tls": certs.node(node_id, tls_ca)}
            settings |= overrides
            config = NodeConfig(certs.cluster_id, node_id, addresses, **settings)
            machine = KVStateMachine()
            async with open_node(config, machine, storage=MemoryStorage(), seed=node_id) as node:
                nodes[node_id] = node
                task_status.started()
                await trio.sleep_forever()

        for node_id in addresses:
            await nursery.start(run, node_id)
        await wait_for(lambda: leader_of(nodes) is not None, timeout=15)
        yield nodes
        nursery.cancel_scope.cancel()


def addresses_of(nodes: dict[int, Node]) -> dict[int, Address]:
    return dict(next(iter(nodes.values())).config.members)


def tls_client(
    nodes: dict[int, Node], tls: TlsConfig, **kwargs: Any
) -> AbstractAsyncContextManager[Client]:
    """A client of the in-process cluster ``nodes`` with the certificate ``tls``."""
    return open_client(addresses_of(nodes), CLUSTER, tls=tls, **kwargs)
