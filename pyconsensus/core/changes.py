"""Membership changes as typed values, shared by every protocol's core.

A core takes a change with ``change_membership(change) -> RequestId`` and
answers like any proposal: ``ProposalCommitted`` once the configuration entry
that carries the change committed, or ``RequestFailed`` with the reason
(``MembershipChangeRefused``, ``NotLeader``, ``ProposalDropped``...).

``target`` turns a change into the configuration it asks for; ``transition``
decides how to get there from the current one: directly when at most one
voter changes (the single-server shortcut of the Raft thesis, section 4.1),
otherwise through a joint configuration that is left automatically once it
committed (section 4.3; etcd raft's ``confchange`` is the model).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import attrs

from pyconsensus.core.errors import MembershipChangeRefused
from pyconsensus.core.membership import MemberInfo, Membership
from pyconsensus.core.types import MemberRole, NodeId, RequestId, Roles


@attrs.frozen(slots=True)
class OneMemberChange:
    """A change that concerns one member, ``node`` (the base of the next four).

    ``incarnation`` and ``address``, when given to a change that adds a member,
    go into the configuration's directory (``MemberInfo``); empty: unknown
    (the runtime records the incarnation at the member's first handshake)."""

    node: NodeId
    incarnation: str = attrs.field(default="", kw_only=True)
    address: str = attrs.field(default="", kw_only=True)


class AddVoter(OneMemberChange):
    """Make ``node`` a voter (a new node, or a learner promoted at once)."""

    __slots__ = ()


class AddLearner(OneMemberChange):
    """Make ``node`` a learner: it receives the log and never votes or counts."""

    __slots__ = ()


class PromoteLearner(OneMemberChange):
    """Turn the learner ``node`` into a voter; refused if it lags too far behind."""

    __slots__ = ()


class RemoveMember(OneMemberChange):
    """Take ``node`` (voter or learner) out of the cluster."""

    __slots__ = ()


@attrs.frozen(slots=True)
class ReplaceMember:
    """Swap the voter ``old`` for the new voter ``new`` in one change (two voters
    change, so it goes through a joint configuration)."""

    old: NodeId
    new: NodeId
    incarnation: str = attrs.field(default="", kw_only=True)
    """The new member's (see ``OneMemberChange``)."""
    address: str = attrs.field(default="", kw_only=True)


@attrs.frozen(slots=True)
class RecordIdentity:
    """Record ``info`` (incarnation, address) for a current member in the
    configuration's directory; who votes and learns does not change."""

    info: MemberInfo


MembershipChange = (
    AddVoter | AddLearner | PromoteLearner | RemoveMember | ReplaceMember | RecordIdentity
)


@runtime_checkable
class Reconfigurable(Protocol):
    """What a core that can change its membership offers besides the
    ``ConsensusNode`` contract (Raft today; ZAB and Paxos are to follow)."""

    @property
    def membership(self) -> Membership:
        """The configuration in force (perhaps not committed yet)."""
        ...

    def change_membership(self, change: MembershipChange) -> RequestId:
        """Propose ``change``; the reply comes like a proposal's."""
        ...

    def transfer_leadership(self, target: NodeId) -> None:
        """Hand leadership to the voter ``target`` (leader only)."""
        ...


def roles(membership: Membership) -> Roles:
    """Every member of ``membership`` with its role, in ascending order of id."""
    return tuple((node, _role(membership, node)) for node in membership.ordered())


def _role(m: Membership, node: NodeId) -> MemberRole:
    if node in m.learners:
        return MemberRole.LEARNER
    if not m.is_joint or (node in m.voters and node in m.voters_outgoing):
        return MemberRole.VOTER
    if node in m.voters:
        return MemberRole.JOINING_VOTER
    if node in m.learners_next:
        return MemberRole.DEMOTING_VOTER
    return MemberRole.LEAVING_VOTER


def target(current: Membership, change: MembershipChange) -> Membership:
    """The (simple) configuration ``change`` asks for, starting from ``current``.
    Raises ``MembershipChangeRefused`` for a change that makes no sense here."""
    if current.is_joint:
        raise MembershipChangeRefused("a joint configuration is still being left")
    if isinstance(change, RecordIdentity):
        _require(change.info.node in current.members, f"node {change.info.node} is not a member")
        _require(change.info.problem() is None, f"bad identity {change.info.encode()!r}")
        return current.with_info(change.info)
    voters, learners = set(current.voters), set(current.learners)
    joining: MemberInfo | None = None
    if isinstance(change, ReplaceMember):
        _require(change.old in voters, f"node {change.old} is not a voter")
        _require(change.new not in current.members, f"node {change.new} is already a member")
        voters.discard(change.old)
        voters.add(change.new)
        if change.incarnation or change.address:
            joining = MemberInfo(change.new, change.incarnation, change.address)
    elif isinstance(change, RemoveMember):
        _require(change.node in current.members, f"node {change.node} is not a member")
        voters.discard(change.node)
        learners.discard(change.node)
    elif isinstance(change, PromoteLearner):
        _require(change.node in learners, f"node {change.node} is not a learner")
        learners.discard(change.node)
        voters.add(change.node)
    elif isinstance(change, AddVoter):
        _require(change.node not in voters, f"node {change.node} is already a voter")
        learners.discard(change.node)
        voters.add(change.node)
        joining = _joining(current, change)
    elif isinstance(change, AddLearner):
        _require(change.node not in current.members, f"node {change.node} is already a member")
        learners.add(change.node)
        joining = _joining(current, change)
    else:
        raise TypeError(f"not a membership change: {change!r}")
    _require(bool(voters), "the last voter cannot be removed")
    _require(all(type(n) is int and n >= 0 for n in voters | learners), "bad member id")
    return _with_directory(Membership(voters, learners=learners), current, joining)


def _joining(current: Membership, change: OneMemberChange) -> MemberInfo | None:
    """The directory entry an added member brings (None: it brings nothing new)."""
    if not (change.incarnation or change.address):
        return None
    old = current.info(change.node)
    return MemberInfo(
        change.node,
        change.incarnation or (old.incarnation if old is not None else ""),
        change.address or (old.address if old is not None else ""),
    )


def _with_directory(
    wanted: Membership, current: Membership, joining: MemberInfo | None
) -> Membership:
    """``wanted`` with the entries of ``current``'s directory that remain members,
    and the joining member's entry."""
    result = attrs.evolve(wanted, directory=current.directory_of(wanted.members))
    if joining is not None:
        _require(joining.problem() is None, f"bad identity {joining.encode()!r}")
        result = result.with_info(joining)
    return result


def transition(current: Membership, wanted: Membership) -> Membership:
    """The configuration to append on the way from ``current`` to ``wanted``:
    ``wanted`` itself when at most one voter changes, else the joint
    configuration of both (left automatically once committed)."""
    if len(current.voters ^ wanted.voters) <= 1:
        return wanted
    # Outgoing voters that stay as learners keep voting in the outgoing half
    # until the joint configuration is left (etcd's LearnersNext).
    demoted = wanted.learners & current.voters
    everyone = wanted.members | current.voters
    directory = {info.node: info for info in current.directory_of(everyone)}
    directory.update({info.node: info for info in wanted.directory})
    return Membership(
        wanted.voters,
        voters_outgoing=current.voters,
        learners=wanted.learners - demoted,
        learners_next=demoted,
        auto_leave=True,
        directory=directory.values(),
    )


def _require(condition: bool, reason: str) -> None:
    if not condition:
        raise MembershipChangeRefused(reason)


_BY_NAME: dict[str, type[AddVoter | AddLearner | PromoteLearner | RemoveMember]] = {
    "add-voter": AddVoter,
    "add-learner": AddLearner,
    "promote": PromoteLearner,
    "remove": RemoveMember,
}

CHANGE_NAMES = (*_BY_NAME, "replace")
"""The names ``parse_change`` knows, as an operator types them."""


def parse_change(words: list[str]) -> MembershipChange:
    """A change from words such as ``["add-learner", "4"]`` or
    ``["replace", "3", "4"]``; ``ValueError`` naming the problem otherwise."""
    if not words or words[0] not in CHANGE_NAMES:
        raise ValueError(f"a membership change is one of {', '.join(CHANGE_NAMES)}; got {words}")
    name, ids = words[0], words[1:]
    if not all(w.isascii() and w.isdigit() for w in ids):
        raise ValueError(f"member ids must be decimal numbers, got {ids}")
    if name == "replace":
        if len(ids) != 2:
            raise ValueError("replace takes the old and the new member: replace 3 4")
        return ReplaceMember(int(ids[0]), int(ids[1]))
    if len(ids) != 1:
        raise ValueError(f"{name} takes one member id")
    return _BY_NAME[name](int(ids[0]))
