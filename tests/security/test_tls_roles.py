"""Client roles under mutual TLS, and sessions bound to the authenticated client.

``read`` may read and see the plain status; ``write`` may also submit
commands; only ``admin`` sees status details (the state's digest and
contents). A refusal is the typed ``Forbidden`` error on the client, and the
node counts it in ``requests.forbidden``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pyconsensus.adapters.trio import Forbidden, Node, RequestRejected
from pyconsensus.adapters.trio.identity import (
    ANONYMOUS,
    Action,
    Principal,
    Role,
    bound_client_id,
    permits,
)
from pyconsensus.cli.status_poll import watch
from pyconsensus.cli.status_table import Watch
from pyconsensus.rsm import SessionCommand, kv
from tests.security.tls_support import Certs, make_certs, tls_client, tls_cluster


def forbidden_count(nodes: dict[int, Node]) -> int:
    return sum(node.status().counters.get("requests.forbidden", 0) for node in nodes.values())


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.READ, {Action.READ, Action.STATUS}),
        (Role.WRITE, {Action.READ, Action.STATUS, Action.WRITE}),
        (Role.ADMIN, set(Action)),
    ],
)
def test_each_role_allows_its_actions_and_those_of_the_roles_below(
    role: Role, allowed: set[Action]
) -> None:
    client = Principal("c", client="someone", role=role)
    assert {action for action in Action if permits(client, action)} == allowed
    assert all(permits(Principal("c", member_id=1), action) for action in Action)
    assert all(permits(ANONYMOUS, action) for action in Action)


async def test_each_role_is_served_what_it_may_and_refused_the_rest(tmp_path: Path) -> None:
    certs = make_certs(tmp_path, [1, 2, 3])
    async with tls_cluster(certs) as nodes:
        async with tls_client(nodes, certs.client("w")) as writer:
            await writer.propose(kv.put(b"k", b"v"))
            with pytest.raises(Forbidden) as caught:
                await writer.status(1, detail=2)
            assert isinstance(caught.value, RequestRejected)
            assert caught.value.code == "forbidden"
        async with tls_client(nodes, certs.client("r", Role.READ)) as reader:
            assert kv.decode_get(await reader.read(kv.get(b"k"))) == b"v"
            with pytest.raises(Forbidden, match="needs role write"):
                await reader.propose(kv.put(b"k", b"w"))
            assert (await reader.status(1)).node_id == 1
            with pytest.raises(Forbidden, match="needs role admin"):
                await reader.status(1, detail=1)
        assert forbidden_count(nodes) == 3
        async with tls_client(nodes, certs.client("a", Role.ADMIN)) as admin:
            leader = next(n for n, node in nodes.items() if node.status().role.value == "leader")
            status = await admin.status(leader, detail=2)
            assert status.digest and status.state


async def test_two_clients_using_the_same_client_id_get_sessions_of_their_own(
    tmp_path: Path,
) -> None:
    # Before identities, a client chose its session id: the second client's
    # command (same id, same sequence number) was taken for a retry of the
    # first's and never applied.
    certs = make_certs(tmp_path, [1, 2, 3])
    async with tls_cluster(certs) as nodes:
        for name, key in (("alice", b"a"), ("bob", b"b")):
            async with tls_client(nodes, certs.client(name)) as client:
                reply = await client.submit(SessionCommand(7, 1, kv.put(key, name.encode()), 1))
                assert reply.index > 0
        async with tls_client(nodes, certs.client("alice")) as client:
            assert kv.decode_get(await client.read(kv.get(b"a"))) == b"alice"
            assert kv.decode_get(await client.read(kv.get(b"b"))) == b"bob"


def test_bound_session_ids_differ_per_client_and_agree_across_nodes() -> None:
    alice = Principal("c", client="alice", role=Role.WRITE)
    bob = Principal("c", client="bob", role=Role.WRITE)
    assert bound_client_id(alice, 7) == bound_client_id(alice, 7)
    assert bound_client_id(alice, 7) != bound_client_id(bob, 7)
    assert 0 <= bound_client_id(alice, 2**200) < 2**63  # any int a client sends
    assert bound_client_id(Principal("c", member_id=2), 7) == 7  # forwarded: already bound
    assert bound_client_id(ANONYMOUS, 7) == 7


def test_certs_helper_issues_a_client_once(tmp_path: Path) -> None:
    certs = make_certs(tmp_path, [])
    first = certs.client("x", Role.READ).cert.read_bytes()
    assert Certs(tmp_path).client("x").cert.read_bytes() == first


async def test_the_status_command_reads_a_tls_cluster_with_a_read_certificate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    certs = make_certs(tmp_path, [1, 2, 3])
    viewer = certs.client("viewer", Role.READ)
    files = (str(viewer.ca), str(viewer.cert), str(viewer.key))
    async with tls_cluster(certs) as nodes:
        addresses = {n: node.config.address for n, node in nodes.items()}
        assert await watch(addresses, "test", Watch(2.0, 0.1, 1, True, files)) == 0
        assert await watch(addresses, "test", Watch(2.0, 0.1, 1, True)) == 1  # no certificate
    assert '"role": "leader"' in capsys.readouterr().out
