"""Membership in a running node (issue 14): peers follow the configuration.

The core decides who belongs to the cluster; this module makes the node act
on it:

* **Connections follow the configuration.** After every batch the node asks
  ``sync``: a member that appeared is dialled at the address the
  configuration's directory gives (or the cluster file's), a member that left
  is dropped - its connections close both ways and its handshakes are refused.
* **Node identity.** Each node says its storage's incarnation in its
  ``Hello``; a peer whose directory entry records another incarnation is
  refused (``identity_problem``): a node restarted with a wiped data
  directory cannot vote as its old, forgetful self and must be re-added. A
  member without a recorded incarnation is trusted on first sight: the
  leader records what its handshake said (``RecordIdentity``), one member
  at a time.
* **A removed node stops.** Once this node sees a committed configuration
  without itself - or, while the change is not known to be committed here, a
  peer refuses it as a non-member - it calls ``on_removed`` (the node shuts
  down cleanly, with one log line).
* **Operations.** ``administer`` runs an ``AdminRequest`` (add, remove,
  promote, replace, transfer-leader, members) at the leader and answers with
  a ``Reply``; protocols whose core is not ``Reconfigurable`` (ZAB and Paxos
  for now) refuse with ``not_supported``.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, Final

import trio

from pyconsensus.adapters.trio.config import Address, NodeConfig
from pyconsensus.adapters.trio.transport import REJOIN_HINT
from pyconsensus.core.changes import (
    AddLearner,
    AddVoter,
    MembershipChange,
    PromoteLearner,
    Reconfigurable,
    RecordIdentity,
    RemoveMember,
    ReplaceMember,
    roles,
)
from pyconsensus.core.errors import ConfigError, MembershipChangeRefused, NotLeader
from pyconsensus.core.membership import MemberInfo, Membership
from pyconsensus.core.node import ConsensusNode
from pyconsensus.core.ready import ProposalCommitted, Ready, RequestFailed
from pyconsensus.core.types import Role
from pyconsensus.service.messages import AdminRequest, Reply, ReplyStatus

log = logging.getLogger("pyconsensus.trio.members")

RECORD_EVERY_TICKS: Final = 25
"""How often a leader looks for members whose incarnation is not recorded yet."""

_CHANGES: Final[dict[str, type[AddLearner | AddVoter | PromoteLearner | RemoveMember]]] = {
    "add-learner": AddLearner,
    "add-voter": AddVoter,
    "promote": PromoteLearner,
    "remove": RemoveMember,
}


class MembershipUnsupported(ConfigError):
    """This protocol's core cannot change its membership yet."""


class MemberDriver:
    """The node's side of membership (see the module docstring)."""

    def __init__(
        self,
        node_id: int,
        core: ConsensusNode,
        incarnation: str,
        configured: Mapping[int, Address],
        counters: Counter[str],
        *,
        connect: Callable[[int, Address], None],
        disconnect: Callable[[int], None],
        connected: Callable[[], frozenset[int]],
        wake: Callable[[], None],
        on_removed: Callable[[str], None],
    ) -> None:
        self.node_id = node_id
        self.core = core
        self.incarnation = incarnation
        self.configured = dict(configured)
        self.counters = counters
        self._connect = connect
        self._disconnect = disconnect
        self._connected = connected
        self._wake = wake
        self._on_removed = on_removed
        self._seen: dict[int, str] = {}  # incarnations shown at handshakes, not yet recorded
        self._last: Membership | None = None
        self._was_member = False
        self._strangers: set[int] = set()  # peers that refused us as a non-member
        self._removed = False
        self._ticks = 0
        self._waiters: dict[int, Callable[[object], None]] = {}

    # -- questions -----------------------------------------------------

    @property
    def reconfigurable(self) -> bool:
        return isinstance(self.core, Reconfigurable)

    def membership(self) -> Membership | None:
        """The configuration in force at this node (None: the core has no such value)."""
        value = getattr(self.core, "membership", None)
        return value if isinstance(value, Membership) else None

    def address_of(self, node: int, membership: Membership | None = None) -> Address | None:
        """Where ``node`` serves: the directory's address, else the cluster file's."""
        membership = membership if membership is not None else self.membership()
        info = membership.info(node) if membership is not None else None
        if info is not None and info.address:
            try:
                return Address.parse(info.address)
            except ConfigError:
                self.counters["membership.bad_address"] += 1
        return self.configured.get(node)

    def identity_problem(self, node: int, incarnation: str) -> str | None:
        """Why a peer handshake of ``node`` showing ``incarnation`` is refused (None: it is not)."""
        membership = self.membership()
        info = membership.info(node) if membership is not None else None
        if info is None or not info.incarnation:
            if incarnation:
                self._seen[node] = incarnation  # the leader records it (trust on first sight)
            return None
        if info.incarnation == incarnation:
            return None
        self.counters["handshake.wrong_incarnation"] += 1
        shown = incarnation or "none"
        return (
            f"node {node} shows storage incarnation {shown}, but the configuration records "
            f"{info.incarnation}: its data directory was wiped or replaced; {REJOIN_HINT}"
        )

    # -- following the configuration -------------------------------------

    def sync(self) -> None:
        """Dial members that appeared and drop those that left (cheap when
        nothing changed: the core keeps one value until a change)."""
        membership = self.membership()
        if membership is None or membership is self._last:
            return
        self._last = membership
        wanted = membership.members - {self.node_id}
        for peer in sorted(wanted):
            address = self.address_of(peer, membership)
            if address is None:
                self.counters["membership.no_address"] += 1
                log.warning("node %d: no address known for member %d", self.node_id, peer)
                continue
            self._connect(peer, address)
        for peer in sorted(self._connected() - wanted):
            log.info("node %d: member %d left the configuration; disconnected", self.node_id, peer)
            self._disconnect(peer)
        if self.node_id in membership.members:
            self._was_member = True
        self.check_removed()

    def refused_as_stranger(self, peer: int) -> None:
        """``peer`` refused our handshake: we are not a member there."""
        self._strangers.add(peer)
        self.check_removed()

    def connected_to(self, peer: int) -> None:
        """``peer`` accepted our handshake: we are a member there."""
        self._strangers.discard(peer)

    def check_removed(self) -> None:
        """Call ``on_removed`` once this node is known to have been removed:
        a committed configuration without it, or a majority of the voters it
        knows refusing it as a non-member (a removed follower is often never
        sent the entry that removes it: the leader stops talking to it)."""
        membership = self.membership()
        if self._removed or not self._was_member or membership is None:
            return
        voters = membership.all_voters
        refused = len(self._strangers & voters) > len(voters) // 2
        if self.node_id in membership.members and not refused:
            return
        status = self.core.status()
        committed = {node for node, _ in status.configuration}
        known = bool(committed) and self.node_id not in committed
        if known or refused:
            self._removed = True
            self.counters["membership.removed"] += 1
            self._on_removed(f"node {self.node_id} was removed from the cluster's configuration")

    def tick(self) -> None:
        """Every tick: a removal may have committed; a leader records identities."""
        self._ticks += 1
        if self._ticks % RECORD_EVERY_TICKS:
            return
        self.check_removed()
        self._record_identity()

    def _record_identity(self) -> None:
        """Leader: put one member's incarnation (first seen) into the directory."""
        core = self.core
        membership = self.membership()
        if membership is None or not isinstance(core, Reconfigurable):
            return
        status = core.status()
        if status.role is not Role.LEADER or status.pending_configuration:
            return
        for node in membership.ordered():
            info = membership.info(node)
            if info is not None and info.incarnation:
                continue
            incarnation = self.incarnation if node == self.node_id else self._seen.get(node)
            if not incarnation:
                continue
            address = info.address if info is not None else ""
            if not address and node in self.configured:
                address = str(self.configured[node])
            self.counters["membership.identities_recorded"] += 1
            core.change_membership(RecordIdentity(MemberInfo(node, incarnation, address)))
            self._wake()
            return

    # -- operations --------------------------------------------------------

    def replies(self, ready: Ready) -> None:
        """Hand the fates of changes made here to their waiters."""
        if not self._waiters:
            return
        for reply in ready.replies:
            waiter = self._waiters.pop(reply.request_id, None)
            if waiter is not None:
                waiter(reply)

    async def administer(self, request: AdminRequest, timeout: float) -> Reply:
        """Run ``request`` here (this node must lead, except for ``members``)."""
        rid = request.request_id
        if request.operation == "members":
            return _ok(rid, self.describe().encode())
        core = self.core
        if not isinstance(core, Reconfigurable):
            return _failed(
                rid, "not_supported", "membership change is not supported for this protocol yet"
            )
        try:
            if request.operation == "transfer-leader":
                return await self._transfer(core, request, timeout)
            change = self._change(request)
        except (ValueError, ConfigError) as exc:
            return _failed(rid, "bad_request", str(exc))
        except NotLeader as exc:
            return _not_leader(rid, exc.leader_hint)
        return await self._change_and_wait(core, change, rid, timeout)

    def _change(self, request: AdminRequest) -> MembershipChange:
        address = request.address
        if address:
            Address.parse(address)  # ConfigError names the problem
        kind = _CHANGES.get(request.operation)
        if kind is not None:
            if request.node < 0:
                raise ValueError(f"{request.operation} needs a member id")
            return kind(request.node, incarnation=request.incarnation, address=address)
        if request.operation == "replace":
            if request.node < 0 or request.other < 0:
                raise ValueError("replace needs the old and the new member id")
            return ReplaceMember(
                request.node, request.other, incarnation=request.incarnation, address=address
            )
        raise ValueError(f"unknown operation {request.operation!r}")

    async def _change_and_wait(
        self, core: Reconfigurable, change: MembershipChange, rid: int, timeout: float
    ) -> Reply:
        fate: list[object] = []
        done = trio.Event()

        def settle(reply: object) -> None:
            fate.append(reply)
            done.set()

        request = core.change_membership(change)
        self._waiters[request] = settle
        self._wake()
        with trio.move_on_after(timeout):
            await done.wait()
        self._waiters.pop(request, None)
        if not fate:
            return Reply(
                rid, ReplyStatus.INDETERMINATE, b"", 0, "timeout", "no answer in time", None
            )
        reply = fate[0]
        if isinstance(reply, ProposalCommitted):
            self.counters["membership.changes"] += 1
            log.info("node %d: membership change %s committed", self.node_id, change)
            return Reply(rid, ReplyStatus.OK, b"", reply.index, "", "", self.node_id)
        error = reply.error if isinstance(reply, RequestFailed) else None
        if isinstance(error, NotLeader):
            return _not_leader(rid, error.leader_hint)
        if isinstance(error, MembershipChangeRefused):
            return _failed(rid, "refused", str(error))
        return Reply(rid, ReplyStatus.INDETERMINATE, b"", 0, "outcome_unknown", str(error), None)

    async def _transfer(self, core: Reconfigurable, request: AdminRequest, timeout: float) -> Reply:
        core.transfer_leadership(request.node)  # NotLeader, ConfigError
        self._wake()
        with trio.move_on_after(timeout):
            while self.core.status().leader != request.node:
                await trio.sleep(0.01)
            return Reply(request.request_id, ReplyStatus.OK, b"", 0, "", "", request.node)
        return _failed(
            request.request_id, "timeout", f"node {request.node} did not take over in time"
        )

    def describe(self) -> str:
        """The configuration as JSON: each member's role, incarnation and address."""
        status = self.core.status()
        membership = self.membership()
        members: list[dict[str, Any]] = []
        listed = roles(membership) if membership is not None else status.configuration
        for node, role in listed:
            info = membership.info(node) if membership is not None else None
            address = self.address_of(node, membership)
            members.append(
                {
                    "id": node,
                    "role": role.value,
                    "incarnation": info.incarnation if info is not None else "",
                    "address": str(address) if address is not None else "",
                }
            )
        document = {
            "node": self.node_id,
            "leader": status.leader,
            "commit_index": status.commit_index,
            "pending": bool(status.pending_configuration),
            "members": members,
        }
        return json.dumps(document, sort_keys=True)


def _ok(rid: int, result: bytes) -> Reply:
    return Reply(rid, ReplyStatus.OK, result, 0, "", "", None)


def _failed(rid: int, code: str, message: str) -> Reply:
    return Reply(rid, ReplyStatus.FAILED, b"", 0, code, message, None)


def _not_leader(rid: int, hint: int | None) -> Reply:
    return Reply(rid, ReplyStatus.FAILED, b"", 0, "not_leader", "not the leader", hint)


def joining_options(config: NodeConfig) -> dict[str, str]:
    """The core's options for a node that joins a running cluster: Raft's
    ``voters`` (the cluster file's members) makes it start as a non-member that
    never campaigns. Other protocols cannot join yet (``MembershipUnsupported``)."""
    if config.protocol != "raft":
        raise MembershipUnsupported(
            f"joining a running cluster is not supported for protocol {config.protocol!r} yet"
        )
    voters = sorted(n for n in config.members if n != config.node_id)
    if not voters:
        raise ConfigError("a joining node needs the members of the cluster it joins")
    return {"voters": ",".join(map(str, voters))}
