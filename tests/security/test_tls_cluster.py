"""A cluster with mutual TLS: it replicates, and serves clients with certificates."""

from __future__ import annotations

from pathlib import Path

from pyconsensus.rsm import kv
from tests.security.tls_support import make_certs, tls_client, tls_cluster
from tests.trio.support import wait_for


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
