"""The runtime follows membership changes (issue 14 items 5 and 6), in one process."""

from __future__ import annotations

from pathlib import Path

import trio

from pyconsensus.adapters.trio import Address, Node, NodeConfig, open_node
from pyconsensus.adapters.trio.admin import administer
from pyconsensus.adapters.trio.identity import Principal, Role, forbidden
from pyconsensus.adapters.trio.localcluster import free_ports
from pyconsensus.adapters.trio.transport import REJOIN_HINT
from pyconsensus.core.membership import Membership
from pyconsensus.core.storage import MemoryStorage
from pyconsensus.rsm import KVStateMachine, kv
from pyconsensus.service.messages import AdminRequest, Refused, ReplyStatus, Welcome
from tests.security.support import greet, peer_hello, raw
from tests.trio.support import TICK, addresses_of, running_cluster, the_leader, wait_for


def _admin(operation: str, node: int = -1, other: int = -1, address: str = "") -> AdminRequest:
    return AdminRequest(0, operation, node, other, address, "")


def _voters(node: object) -> frozenset[int]:
    membership = getattr(getattr(node, "core", None), "membership", None)
    assert isinstance(membership, Membership)
    return membership.voters


async def test_a_joining_node_becomes_a_learner_then_a_voter_and_serves(tmp_path: Path) -> None:
    async with running_cluster(tmp_path) as nodes:
        leader = the_leader(nodes)
        for i in range(5):
            assert await leader.propose(kv.put(b"k%d" % i, b"v")) == kv.OK
        address = Address("127.0.0.1", free_ports(1)[0])
        config = NodeConfig(
            "test", 4, addresses_of(nodes), listen=address, join=True, tick_interval=TICK
        )
        async with open_node(config, KVStateMachine(), storage=MemoryStorage("four")) as four:
            await wait_for(lambda: 4 in _voters(leader), timeout=20)
            await wait_for(lambda: four.rsm.applied >= leader.rsm.applied, timeout=10)
            assert 4 in leader.links  # the leader dialled the new member
            info = leader.core.membership.info(4)  # type: ignore[attr-defined]
            assert info is not None and info.incarnation == "four"
            assert info.address == str(address)
            assert await four.read(kv.get(b"k4")) == await leader.read(kv.get(b"k4"))


async def _on_a_follower(nodes: dict[int, Node], operation: str) -> tuple[Node, int]:
    """Run ``operation`` on the first follower; the leader and that follower's id."""
    leader = the_leader(nodes)
    follower = next(n for n in nodes if n != leader.node_id)
    reply = await administer(addresses_of(nodes), "test", _admin(operation, follower))
    assert reply.status == ReplyStatus.OK, reply
    return leader, follower


async def test_a_removed_node_disconnects_and_shuts_down_cleanly(tmp_path: Path) -> None:
    async with running_cluster(tmp_path) as nodes:
        leader, gone = await _on_a_follower(nodes, "remove")
        await wait_for(lambda: nodes[gone].removed, timeout=10)
        await wait_for(lambda: gone not in leader.links)
        assert nodes[gone].counters["membership.removed"] == 1
        assert await leader.propose(kv.put(b"after", b"removal")) == kv.OK


async def test_transfer_leader_hands_over_to_the_named_voter(tmp_path: Path) -> None:
    async with running_cluster(tmp_path) as nodes:
        _, target = await _on_a_follower(nodes, "transfer-leader")
        assert the_leader(nodes).node_id == target


async def test_members_lists_roles_and_addresses(tmp_path: Path) -> None:
    async with running_cluster(tmp_path) as nodes:
        reply = await administer(addresses_of(nodes), "test", _admin("members"))
        assert reply.status == ReplyStatus.OK
        assert b'"role": "voter"' in reply.result
        assert str(nodes[1].config.address).encode() in reply.result


async def test_a_wiped_node_is_refused_as_its_old_self(tmp_path: Path) -> None:
    async with running_cluster(tmp_path) as nodes:
        node = nodes[1]
        # The leader records every member's incarnation (trust on first sight).
        await wait_for(
            lambda: all(
                (info := node.core.membership.info(n)) is not None and info.incarnation  # type: ignore[attr-defined]
                for n in nodes
            ),
            timeout=10,
        )
        async with raw(node) as stream:
            answer = await greet(stream, peer_hello(2, incarnation="wiped"))
        assert isinstance(answer, Refused)
        assert REJOIN_HINT in answer.reason
        assert node.counters["handshake.wrong_incarnation"] == 1
        async with raw(node) as stream:
            assert isinstance(await greet(stream, peer_hello(2)), Welcome)  # the real one


async def test_zab_refuses_membership_operations_as_not_supported(tmp_path: Path) -> None:
    async with running_cluster(tmp_path, protocol="zab") as nodes:
        reply = await administer(
            addresses_of(nodes), "test", _admin("add-learner", 9, -1, "127.0.0.1:1")
        )
        assert reply.status == ReplyStatus.FAILED
        assert reply.error == "not_supported"


def test_membership_operations_need_the_admin_role() -> None:
    for role in (Role.READ, Role.WRITE):
        refusal = forbidden(Principal("test", client="ops", role=role), _admin("remove", 2))
        assert refusal is not None and refusal.error == "forbidden"
    assert forbidden(Principal("test", client="ops", role=Role.ADMIN), _admin("remove", 2)) is None


async def test_a_joining_node_never_campaigns_while_no_member_answers(tmp_path: Path) -> None:
    ports = free_ports(2)
    config = NodeConfig(
        "test",
        4,
        {1: Address("127.0.0.1", ports[0])},
        listen=Address("127.0.0.1", ports[1]),
        join=True,
        tick_interval=TICK,
    )
    async with open_node(config, KVStateMachine(), storage=MemoryStorage("four")) as four:
        await trio.sleep(60 * TICK)  # three election timeouts
        assert four.status().term == 0
        assert four.status().leader is None
