"""``Membership``: who belongs to a cluster and who votes, as one immutable value.

The shape follows the needs of membership change (joint consensus, learners):

* ``voters`` - the voters of the current (incoming) configuration;
* ``voters_outgoing`` - while a joint configuration is in force, the voters of
  the configuration being left (empty otherwise); decisions then need a
  majority of *both* halves;
* ``learners`` - members that receive the log but never vote or count;
* ``learners_next`` - outgoing voters that become learners once the joint
  configuration is left (they still vote in the outgoing half until then);
* ``auto_leave`` - whether the leader leaves the joint configuration by itself
  once it is committed;
* ``directory`` - what the cluster knows of each member as a node: its
  storage's incarnation id and its address (``MemberInfo``; issue 14's node
  identity). Members added before it existed, and simulated clusters, have no
  entry; the runtime fills them in.

Today every cluster is a fixed set of voters (``Membership(voters)``); the
other fields exist so that changing membership later changes no signatures.
``encode``/``decode`` give the canonical text that durable state stores.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import attrs

from pyconsensus.core.errors import ConfigError
from pyconsensus.core.quorum import JointQuorum, MajorityQuorum, Quorum
from pyconsensus.core.types import NodeId


def _ids(values: Iterable[NodeId]) -> frozenset[NodeId]:
    return frozenset(values)


_TOKEN = re.compile(r"^[A-Za-z0-9._:\[\]-]*$")
"""What an incarnation or address may contain: nothing of the encoding's separators."""


@attrs.frozen(slots=True)
class MemberInfo:
    """One member as a node: the incarnation id of its storage (empty: not
    known yet) and the address it serves at (empty: the cluster file's)."""

    node: NodeId
    incarnation: str = ""
    address: str = ""

    def encode(self) -> str:
        return f"{self.node}@{self.incarnation}@{self.address}"

    @classmethod
    def decode(cls, text: str) -> MemberInfo:
        parts = text.split("@")
        if len(parts) != 3 or not (parts[0].isascii() and parts[0].isdigit()):
            raise ValueError(f"not a member's entry: {text!r}")
        return cls(int(parts[0]), parts[1], parts[2])

    def problem(self) -> str | None:
        if not (_TOKEN.match(self.incarnation) and _TOKEN.match(self.address)):
            return f"member {self.node}'s incarnation or address has a bad character"
        return None


def _directory(values: Iterable[MemberInfo]) -> tuple[MemberInfo, ...]:
    return tuple(sorted(values, key=lambda info: info.node))


@attrs.frozen(slots=True)
class Membership:
    """The configuration of a cluster (etcd raft's ``ConfState`` is the model).

    Invariants, checked on construction (``ConfigError``): ids are non-negative
    ints; there is at least one voter; a learner is no voter of either half;
    ``learners_next`` are outgoing voters that are not incoming ones; only a
    joint configuration has ``learners_next`` or ``auto_leave``.
    """

    voters: frozenset[NodeId] = attrs.field(converter=_ids)
    voters_outgoing: frozenset[NodeId] = attrs.field(default=frozenset(), converter=_ids)
    learners: frozenset[NodeId] = attrs.field(default=frozenset(), converter=_ids)
    learners_next: frozenset[NodeId] = attrs.field(default=frozenset(), converter=_ids)
    auto_leave: bool = False
    directory: tuple[MemberInfo, ...] = attrs.field(default=(), converter=_directory)

    def __attrs_post_init__(self) -> None:
        problem = self._problem()
        if problem is not None:
            raise ConfigError(f"invalid membership {self.encode()}: {problem}")

    def _problem(self) -> str | None:
        everyone = self.voters | self.voters_outgoing | self.learners | self.learners_next
        if any(type(n) is not int or n < 0 for n in everyone):
            return "member ids must be non-negative integers"
        if not self.voters:
            return "there must be at least one voter"
        if self.learners & (self.voters | self.voters_outgoing):
            return "a learner cannot also be a voter"
        if not self.learners_next <= self.voters_outgoing - self.voters:
            return "learners_next must be outgoing voters that leave the voters"
        if not self.voters_outgoing and (self.learners_next or self.auto_leave):
            return "learners_next and auto_leave belong to a joint configuration"
        return self._directory_problem(everyone)

    def _directory_problem(self, everyone: frozenset[NodeId]) -> str | None:
        nodes = [info.node for info in self.directory]
        if len(set(nodes)) != len(nodes) or not set(nodes) <= everyone:
            return "the directory lists each member at most once, and members only"
        for info in self.directory:
            problem = info.problem()
            if problem is not None:
                return problem
        return None

    # -- questions -------------------------------------------------------

    @property
    def is_joint(self) -> bool:
        """Whether a joint configuration is in force (two voter sets)."""
        return bool(self.voters_outgoing)

    @property
    def members(self) -> frozenset[NodeId]:
        """Everyone who receives the log: voters of both halves and learners."""
        return self.voters | self.voters_outgoing | self.learners | self.learners_next

    @property
    def all_voters(self) -> frozenset[NodeId]:
        """Everyone whose vote counts in either half."""
        return self.voters | self.voters_outgoing

    def is_voter(self, node: NodeId) -> bool:
        return node in self.voters or node in self.voters_outgoing

    def quorum(self) -> Quorum:
        """The quorum system: a majority of ``voters``, and during a joint
        configuration also a majority of ``voters_outgoing``."""
        incoming = MajorityQuorum(self.voters)
        if not self.voters_outgoing:
            return incoming
        return JointQuorum(incoming, MajorityQuorum(self.voters_outgoing))

    def ordered(self) -> tuple[NodeId, ...]:
        """All members in ascending order."""
        return tuple(sorted(self.members))

    def peers_of(self, node: NodeId) -> tuple[NodeId, ...]:
        """All members but ``node``, in ascending order: whom ``node`` talks to."""
        return tuple(m for m in self.ordered() if m != node)

    def left_joint(self) -> Membership:
        """The configuration after leaving the joint one: the incoming voters
        alone, with ``learners_next`` turned into learners."""
        learners = self.learners | self.learners_next
        return Membership(
            self.voters, learners=learners, directory=self.directory_of(self.voters | learners)
        )

    def info(self, node: NodeId) -> MemberInfo | None:
        """What the directory records of ``node`` (None: nothing)."""
        for info in self.directory:
            if info.node == node:
                return info
        return None

    def directory_of(self, nodes: frozenset[NodeId]) -> tuple[MemberInfo, ...]:
        """The directory's entries of ``nodes`` only."""
        return tuple(info for info in self.directory if info.node in nodes)

    def with_info(self, info: MemberInfo) -> Membership:
        """This configuration with ``info`` replacing ``info.node``'s entry."""
        kept = [other for other in self.directory if other.node != info.node]
        return attrs.evolve(self, directory=(*kept, info))

    # -- durable form ----------------------------------------------------

    def encode(self) -> str:
        """Canonical text for durable metadata and snapshots, e.g.
        ``voters=1,2,3;outgoing=;learners=4;learners_next=;auto_leave=0``,
        followed by ``;directory=1@<incarnation>@<address>,...`` only when the
        directory has entries (so texts written before it existed, and those of
        clusters that never use it, stay as they were)."""
        parts = [
            "voters=" + _join(self.voters),
            "outgoing=" + _join(self.voters_outgoing),
            "learners=" + _join(self.learners),
            "learners_next=" + _join(self.learners_next),
            f"auto_leave={int(bool(self.auto_leave))}",
        ]
        if self.directory:
            parts.append("directory=" + ",".join(info.encode() for info in self.directory))
        return ";".join(parts)

    @classmethod
    def decode(cls, text: str) -> Membership:
        """The inverse of ``encode``; ``ValueError`` on anything else."""
        if type(text) is not str:
            raise ValueError(f"a membership is encoded as text, not {type(text).__name__}")
        fields = dict(part.partition("=")[::2] for part in text.split(";"))
        has_directory = "directory" in fields
        directory = fields.pop("directory", "")
        if list(fields) != ["voters", "outgoing", "learners", "learners_next", "auto_leave"]:
            raise ValueError(f"not an encoded membership: {text!r}")
        if has_directory and (not directory or not text.endswith(";directory=" + directory)):
            raise ValueError(f"a directory is non-empty and last in a membership: {text!r}")
        if fields["auto_leave"] not in ("0", "1"):
            raise ValueError(f"auto_leave must be 0 or 1 in {text!r}")
        try:
            return cls(
                _split(fields["voters"]),
                _split(fields["outgoing"]),
                _split(fields["learners"]),
                _split(fields["learners_next"]),
                fields["auto_leave"] == "1",
                [MemberInfo.decode(entry) for entry in directory.split(",") if directory],
            )
        except ConfigError as exc:
            raise ValueError(str(exc)) from exc


def _join(ids: frozenset[NodeId]) -> str:
    return ",".join(str(n) for n in sorted(ids))


def _split(text: str) -> list[NodeId]:
    if not text:
        return []
    parts = text.split(",")
    if not all(p.isdigit() and p.isascii() for p in parts):
        raise ValueError(f"member ids must be decimal numbers, got {text!r}")
    return [int(p) for p in parts]


def cluster_membership(
    node_id: NodeId, members: Iterable[NodeId], *, max_id: int | None = None
) -> Membership:
    """The membership of a cluster of voters ``members``, checked the way every
    core's constructor checks its arguments: ids are ints in ``[0, max_id]``
    (``max_id`` is a protocol's limit, e.g. what fits in a packed ballot) and
    ``node_id`` is one of them. Raises ``ConfigError`` naming the problem."""
    ids = frozenset(members)
    if any(type(m) is not int or m < 0 or (max_id is not None and m > max_id) for m in ids):
        shown = sorted(ids, key=str)
        if max_id is None:
            raise ConfigError(f"member ids must be non-negative integers, got {shown}")
        raise ConfigError(f"member ids must be integers in [0, {max_id}], got {shown}")
    if node_id not in ids:
        raise ConfigError(f"node {node_id} is not among the members {sorted(ids)}")
    return Membership(ids)


def membership_at(node: object, index: int) -> Membership | None:
    """The configuration ``node`` had in force at ``index``, for the snapshot
    taken there: cores that change membership offer ``membership_at``; for
    the others (and clusters whose membership never changed) ``None``."""
    ask = getattr(node, "membership_at", None)
    result = ask(index) if ask is not None else None
    return result if isinstance(result, Membership) else None
