"""A cluster with mutual TLS: it replicates, and serves clients with certificates."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyconsensus.adapters.trio import Unavailable, open_client
from pyconsensus.rsm import KVStateMachine, kv
from tests.security.tls_support import make_certs, tls_client, tls_cluster
from tests.trio.support import running_cluster, wait_for


async def test_a_tls_cluster_replicates_commands_of_a_client_with_a_certificate(
    tmp_path: Path,
) -> None:
    certs = make_certs(tmp_path, [1, 2, 3])
    async with tls_cluster(certs) as nodes:
        async with tls_client(nodes, certs.client("app")) as client:
            await client.propose(kv.put(b"k", b"v"))
            assert kv.decode_get(await client.read(kv.get(b"k"))) == b"v"
        await wait_for(lambda: all(n.status().applied_index >= 2 for n in nodes.values()))
        for node in nodes.values():
            counters = node.status().counters
            assert counters["tls.handshakes"] >= 2  # two peers dialled it
            assert all(peer.connected for peer in node.status().peers)


async def test_a_client_without_a_certificate_gets_nothing_but_unavailable(
    tmp_path: Path,
) -> None:
    certs = make_certs(tmp_path, [1, 2, 3])
    async with tls_cluster(certs) as nodes:
        addresses = {n: node.config.address for n, node in nodes.items()}
        async with open_client(addresses, "test", timeout=1.0) as plaintext:
            with pytest.raises(Unavailable):  # certainly not applied
                await plaintext.propose(kv.put(b"k", b"v"))
        await wait_for(
            lambda: sum(n.counters["tls.handshake_failures"] for n in nodes.values()) >= 1
        )
        for node in nodes.values():  # the plaintext client's command was never applied
            assert node.machine.snapshot() == KVStateMachine().snapshot()


async def test_a_tls_client_of_a_plaintext_cluster_fails_cleanly(tmp_path: Path) -> None:
    certs = make_certs(tmp_path, [1])
    async with running_cluster(tmp_path / "plain", size=1) as nodes:
        addresses = {n: node.config.address for n, node in nodes.items()}
        async with open_client(addresses, "test", timeout=1.0, tls=certs.client("x")) as client:
            with pytest.raises(Unavailable):
                await client.propose(kv.put(b"k", b"v"))
