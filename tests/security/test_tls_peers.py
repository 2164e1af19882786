"""Peer identity under mutual TLS: only a member, in its own name, while it is one.

The attacks of issue 16 began with a forged peer: anyone who could reach a
peer port could claim to be a member. Now the TLS handshake needs a
certificate of the cluster's CA, and the certificate's member id must be the
one the handshake claims.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pyconsensus.adapters.cbor import default_codec
from pyconsensus.adapters.trio import Node, TlsConfig, TransportConfig
from pyconsensus.adapters.trio.certs import init_ca, issue
from pyconsensus.adapters.trio.identity import Role
from pyconsensus.adapters.trio.tls import Tls
from pyconsensus.adapters.trio.transport import HandshakeRefused, NotSent, close, dial
from pyconsensus.service.messages import WIRE_VERSION, ConnectionKind, Hello
from tests.security.tls_support import Certs, make_certs, tls_cluster
from tests.trio.support import leader_of, wait_for

FAST = TransportConfig(handshake_timeout_s=5.0)


def peer_hello(node_id: int, cluster_id: str = "test") -> Hello:
    return Hello(cluster_id, ConnectionKind.PEER, node_id, "raft", WIRE_VERSION)


async def dial_as(
    node: Node, claimed: int, tls: TlsConfig | None, *, expect: int | None = None
) -> None:
    """Dial ``node`` claiming to be member ``claimed`` (expecting the node to
    be member ``expect``, default its own id); closes the connection if it opens."""
    dialled = await dial(
        node.node_id if expect is None else expect,
        node.config.address,
        peer_hello(claimed),
        default_codec(),
        FAST,
        tls=None if tls is None else Tls(tls),
    )
    await close(dialled.stream)


def count(node: Node, name: str) -> int:
    return node.status().counters.get(name, 0)


def term_of(nodes: dict[int, Node]) -> int:
    leader = leader_of(nodes)
    assert leader is not None
    return leader.status().term


async def test_a_forged_peer_without_credentials_cannot_connect(tmp_path: Path) -> None:
    certs = make_certs(tmp_path, [1, 2, 3])
    async with tls_cluster(certs) as nodes:
        term = term_of(nodes)
        with pytest.raises(NotSent):
            await dial_as(nodes[1], 2, None)  # plaintext, no certificate
        await wait_for(lambda: count(nodes[1], "tls.handshake_failures") >= 1)
        assert term_of(nodes) == term


async def test_a_certificate_from_another_ca_cannot_connect(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "real", [1, 2, 3])
    forged = make_certs(tmp_path / "forged", [2])  # same names, the wrong CA
    async with tls_cluster(certs) as nodes:
        failures = count(nodes[1], "tls.handshake_failures")
        with pytest.raises(NotSent):
            await dial_as(nodes[1], 2, forged.node(2, ca=certs.ca))
        # The node sends its alert before it counts the failure: wait for it.
        await wait_for(lambda: count(nodes[1], "tls.handshake_failures") == failures + 1)


async def test_with_a_valid_certificate_for_member_2_one_cannot_speak_as_member_3(
    tmp_path: Path,
) -> None:
    certs = make_certs(tmp_path, [1, 2, 3])
    async with tls_cluster(certs) as nodes:
        term = term_of(nodes)
        with pytest.raises(HandshakeRefused, match="names member 2, not member 3"):
            await dial_as(nodes[1], 3, certs.node(2))
        assert count(nodes[1], "handshake.impersonation") == 1
        await dial_as(nodes[1], 2, certs.node(2))  # in its own name it is welcome
        assert term_of(nodes) == term


async def test_a_client_certificate_cannot_speak_as_a_member(tmp_path: Path) -> None:
    certs = make_certs(tmp_path, [1, 2, 3])
    async with tls_cluster(certs) as nodes:
        with pytest.raises(HandshakeRefused, match="client 'admin'"):
            await dial_as(nodes[1], 2, certs.client("admin", Role.ADMIN))
        assert count(nodes[1], "handshake.impersonation") == 1


async def test_a_dialler_refuses_a_node_whose_certificate_names_another_member(
    tmp_path: Path,
) -> None:
    certs = make_certs(tmp_path, [1, 2, 3])
    async with tls_cluster(certs) as nodes:
        # Member 2 expects member 3 at node 1's address: someone else answers.
        with pytest.raises(HandshakeRefused, match="member 1") as caught:
            await dial_as(nodes[1], 2, certs.node(2), expect=3)
        assert caught.value.reason == "wrong_node"


async def test_a_certificate_of_another_cluster_is_refused(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "test", [1, 2, 3])
    other = Certs(tmp_path / "other", "other")
    other.directory.mkdir()
    for name in ("ca.pem", "ca.key"):
        shutil.copy(certs.directory / name, other.directory / name)
    issue(other.directory, member=2, cluster_id="other")  # the right CA, the wrong cluster
    async with tls_cluster(certs) as nodes:
        with pytest.raises(HandshakeRefused, match="cluster 'other'"):
            await dial_as(nodes[1], 2, other.node(2))
        assert count(nodes[1], "handshake.bad_identity") == 1


async def test_a_member_certificate_is_refused_once_it_is_no_longer_a_member(
    tmp_path: Path,
) -> None:
    certs = make_certs(tmp_path, [1, 2, 3, 4])
    async with tls_cluster(certs) as nodes:
        await dial_as(nodes[1], 2, certs.node(2))
        nodes[1].remove_peer(2)  # the check reads the current member set
        with pytest.raises(HandshakeRefused, match="not a member"):
            await dial_as(nodes[1], 2, certs.node(2))
        # Member 4's certificate is valid, but 4 is not a member of this cluster.
        with pytest.raises(HandshakeRefused, match="not a member"):
            await dial_as(nodes[1], 4, certs.node(4))


def test_certs_fixture_names_members_and_clients(tmp_path: Path) -> None:
    init_ca(tmp_path, "test")
    assert Certs(tmp_path).client("x", Role.READ).cert.exists()
