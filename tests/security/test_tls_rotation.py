"""Certificate and CA rotation without a restart.

The nodes read their TLS files again when they change (or on SIGHUP,
``Node.reload_tls``); during a rotation the CA file holds the old and the new
CA, so certificates of either are accepted.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pyconsensus.adapters.trio import Address, TlsConfig, Unavailable, open_client
from pyconsensus.adapters.trio.certs import init_ca, issue
from pyconsensus.adapters.trio.tls import Tls
from pyconsensus.rsm import kv
from tests.security.tls_support import Certs, addresses_of, make_certs, tls_cluster
from tests.trio.support import leader_of, wait_for

SERVED = 15.0
"""Seconds a write that should go through may take (a loaded machine)."""


async def can_write(
    addresses: dict[int, Address], tls: TlsConfig, key: bytes, timeout: float = 1.5
) -> bool:
    """Whether a client with ``tls`` gets a write through (a refused client
    fails with ``Unavailable`` within ``timeout``)."""
    async with open_client(addresses, "test", tls=tls, timeout=timeout) as client:
        try:
            await client.propose(kv.put(key, b"1"))
        except Unavailable:
            return False
        return True


async def test_a_new_ca_is_accepted_beside_the_old_one_and_the_old_one_retired(
    tmp_path: Path,
) -> None:
    old = make_certs(tmp_path / "old", [1, 2, 3])
    new = Certs(tmp_path / "new")
    init_ca(new.directory, "test")
    trust = tmp_path / "trust.pem"  # the nodes' CA file
    trust.write_bytes(old.ca.read_bytes())
    both = tmp_path / "both.pem"  # what the clients trust
    both.write_bytes(old.ca.read_bytes() + new.ca.read_bytes())
    old_client = old.client("app", ca=both)
    new_client = new.client("app", ca=both)

    nodes_tls = Certs(old.directory)
    async with tls_cluster(nodes_tls, tls_ca=trust) as nodes:
        addresses = addresses_of(nodes)
        assert await can_write(addresses, old_client, b"a", SERVED)
        assert not await can_write(addresses, new_client, b"b")

        # 1. Trust both CAs: picked up at the next handshake, no restart.
        trust.write_bytes(both.read_bytes())
        assert await can_write(addresses, new_client, b"c", SERVED)
        assert await can_write(addresses, old_client, b"d", SERVED)

        # 2. New certificates for the nodes, then retire the old CA.
        for node_id, node in nodes.items():
            fresh = issue(new.directory, member=node_id)
            shutil.copy(fresh.cert, old.directory / f"node-{node_id}.pem")
            shutil.copy(fresh.key, old.directory / f"node-{node_id}.key")
            assert node.reload_tls()  # what SIGHUP does
        trust.write_bytes(new.ca.read_bytes())
        assert not await can_write(addresses, old_client, b"e")
        assert await can_write(addresses, new_client, b"f", SERVED)

        # The peers' connections are made again with the new certificates.
        follower = next(n for n, node in nodes.items() if node is not leader_of(nodes))
        nodes[follower].isolate(True)
        nodes[follower].isolate(False)
        await wait_for(lambda: all(p.connected for p in nodes[follower].status().peers), timeout=15)
        assert await can_write(addresses, new_client, b"g", SERVED)
        target = max(n.status().commit_index for n in nodes.values())
        await wait_for(lambda: nodes[follower].status().applied_index >= target, timeout=15)
        assert sum(n.counters["tls.reloads"] for n in nodes.values()) >= 6


async def test_files_that_do_not_load_leave_the_old_ones_in_use(tmp_path: Path) -> None:
    certs = make_certs(tmp_path, [1])
    config = certs.node(1)
    tls = Tls(config)
    before = tls.server_context()
    config.key.write_text("not a key")
    assert tls.server_context() is before
    assert tls.counters["tls.reload_failures"] == 1
    assert tls.server_context() is before  # the same broken files are not retried
    assert tls.counters["tls.reload_failures"] == 1
    issue(certs.directory, member=1)
    assert tls.server_context() is not before
    assert tls.counters["tls.reloads"] == 1
