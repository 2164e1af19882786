"""Helpers for ZAB scenario tests: build a hand-driven cluster and run it until
a leader is established."""

from __future__ import annotations

from collections.abc import Sequence
from random import Random
from typing import TypeVar

from pyconsensus.core.ready import Write
from pyconsensus.core.storage import Storage
from pyconsensus.core.types import Entry, NodeId
from pyconsensus.sim import Harness
from pyconsensus.zab import (
    ACCEPTED_EPOCH_KEY,
    CURRENT_EPOCH_KEY,
    FollowerStage,
    PeerState,
    ZabConfig,
    ZabNode,
)
from pyconsensus.zab.following import Following

M = TypeVar("M")


def zab_cluster(
    members: Sequence[NodeId] = (1, 2, 3),
    seed: int = 0,
    config: ZabConfig | None = None,
    node_class: type[ZabNode] = ZabNode,
) -> Harness[ZabNode]:
    """A hand-driven ZAB cluster. Its servers start LOOKING and their first
    notifications are pending: nothing happens until messages are delivered."""

    def factory(
        node_id: NodeId, members: Sequence[NodeId], storage: Storage, rng: Random
    ) -> ZabNode:
        return node_class(node_id, members, storage, rng, config)

    return Harness(factory, members, seed)


def established_leader(h: Harness[ZabNode]) -> NodeId | None:
    """The live server that leads an established epoch (the latest, if several)."""
    best: tuple[int, NodeId] | None = None
    for node_id in h.members:
        if node_id in h.down:
            continue
        node = h.node(node_id)
        if node.established and (best is None or node.current_epoch > best[0]):
            best = (node.current_epoch, node_id)
    return best[1] if best else None


def serving(h: Harness[ZabNode], node_id: NodeId, leader: NodeId) -> bool:
    node = h.node(node_id)
    return node_id == leader or (
        node.state is PeerState.FOLLOWING
        and node.leader == leader
        and node.stage is FollowerStage.BROADCAST
    )


def settle(
    h: Harness[ZabNode], among: Sequence[NodeId] | None = None, max_ticks: int = 500
) -> NodeId:
    """Deliver messages and tick every live server until one leads an established
    epoch and every server of ``among`` (default: all live ones that can reach
    it) follows it in the broadcast phase. Returns the leader."""
    for _ in range(max_ticks):
        h.stabilize()
        leader = established_leader(h)
        if leader is not None:
            group = among if among is not None else [m for m in h.members if m not in h.down]
            if all(serving(h, m, leader) for m in group):
                return leader
        h.tick_all()
    raise AssertionError(f"no established leader served {among} within {max_ticks} ticks")


def sent(h: Harness[ZabNode], node_id: NodeId, kind: type[M]) -> list[M]:
    """Every message of type ``kind`` that ``node_id`` has handed out so far."""
    return [m for ready in h.readies[node_id] for m in ready.messages if isinstance(m, kind)]


def preload(
    h: Harness[ZabNode],
    node_id: NodeId,
    *,
    accepted: int = 0,
    current: int = 0,
    entries: Sequence[Entry] = (),
) -> None:
    """Give ``node_id`` this durable state, as if it had lived through earlier
    epochs, and restart it from it (its pending messages are discarded)."""
    h.crash(node_id)
    h.drop(src=node_id)
    h.storages[node_id].write(
        Write(
            metadata={ACCEPTED_EPOCH_KEY: accepted, CURRENT_EPOCH_KEY: current},
            entries=entries,
        )
    )
    h.restart(node_id)


def give_up_leadership(h: Harness[ZabNode], node_id: NodeId) -> None:
    """Make ``node_id`` abandon its epoch and look for a leader again, as a leader
    does when it loses its quorum or meets a more recent follower. A new election
    (and so a new epoch) follows once messages flow."""
    h.node(node_id).look()
    h.flush(node_id)


def connection(node: ZabNode) -> int:
    """The number of a following server's current connection to its leader."""
    role = node.role
    assert isinstance(role, Following), f"node {node.id} is {node.state.name}"
    return role.conn
