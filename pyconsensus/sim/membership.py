"""The membership nemesis at work: turn a ``ChangeMembership`` fault into a
change the current leader is asked for.

The fault carries only a kind and a random ``pick``; which nodes it concerns is
chosen when it happens, among those that fit the configuration then in force
(a spare or removed node to add, a learner to promote, a voter to replace...),
so a schedule stays plain data that replays exactly. The leader may refuse (a
change already in flight, a learner too far behind): that is part of the test.
"""

from __future__ import annotations

from random import Random
from typing import Protocol

from pyconsensus.core.changes import (
    AddLearner,
    AddVoter,
    MembershipChange,
    PromoteLearner,
    Reconfigurable,
    RemoveMember,
    ReplaceMember,
)
from pyconsensus.core.errors import ConsensusError
from pyconsensus.core.membership import Membership
from pyconsensus.core.types import NodeId
from pyconsensus.sim.checker import ClusterView
from pyconsensus.sim.faults import ChangeMembership


class LeaderView(ClusterView, Protocol):
    """A cluster view that can name its leader (``Simulation`` is one)."""

    def leader(self) -> NodeId | None:
        """The live leader with the highest term, if any."""
        ...


MIN_VOTERS = 2
"""Removals stop at this many voters (fewer would leave no fault tolerance at all)."""


def change_membership(sim: LeaderView, fault: ChangeMembership) -> NodeId | None:
    """Ask the leader for the change ``fault`` stands for; the leader's id if
    it was asked (its output is then due), ``None`` if nothing fitted."""
    leader = sim.leader()
    if leader is None:
        return None
    node = _reconfigurable(sim.nodes[leader])
    if node is None:
        return None  # a protocol without membership change
    membership = node.membership
    rng = Random(f"{fault.kind}:{fault.pick}")
    if fault.kind == "transfer":
        voters = sorted(membership.voters - {leader})
        if not voters:
            return None
        try:
            node.transfer_leadership(rng.choice(voters))
        except ConsensusError:
            return None
        return leader
    change = _pick(fault.kind, membership, sorted(sim.members), rng)
    if change is None:
        return None
    node.change_membership(change)
    return leader


def _pick(kind: str, m: Membership, nodes: list[NodeId], rng: Random) -> MembershipChange | None:
    outsiders = [n for n in nodes if n not in m.members]
    learners, voters = sorted(m.learners), sorted(m.voters)
    removable = learners + (voters if len(voters) > MIN_VOTERS else [])
    if kind == "add-learner" and outsiders:
        return AddLearner(rng.choice(outsiders))
    if kind == "add-voter" and (outsiders or learners):
        return AddVoter(rng.choice(outsiders + learners))
    if kind == "promote" and learners:
        return PromoteLearner(rng.choice(learners))
    if kind == "remove" and removable:
        return RemoveMember(rng.choice(removable))
    if kind == "replace" and outsiders:
        return ReplaceMember(rng.choice(voters), rng.choice(outsiders))
    return None


def expected_members(sim: LeaderView) -> list[NodeId]:
    """The nodes that must catch up at the end of a run: the members of the
    leader's configuration (spares and removed nodes are not), or every node
    of a protocol without membership change."""
    live = [node for node in sim.nodes.values() if node is not None]
    leader = sim.leader()
    leading = sim.nodes[leader] if leader is not None else None
    if leading is not None:
        live.insert(0, leading)
    elif live:  # no leader now: the node that knows most
        live.insert(0, max(live, key=lambda node: node.status().commit_index))
    node = _reconfigurable(live[0]) if live else None
    if node is None:
        return list(sim.members)
    return [m for m in sim.members if m in node.membership.members]


def _reconfigurable(node: object) -> Reconfigurable | None:
    return node if isinstance(node, Reconfigurable) else None
