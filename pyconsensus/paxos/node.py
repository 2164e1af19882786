"""``MultiPaxosNode``: Multi-Paxos as a pure state machine (events in, one ``Ready`` out).

The shape follows "Paxos Made Moderately Complex" (van Renesse & Altinbuken,
2015) with a stable leader: every node is an acceptor and a learner, and any
node may become the proposer. A proposer runs phase 1 (its *scout*) once for
all slots above its chosen prefix, adopts the highest-ballot value each slot
reported by a quorum of promises (a no-op where none was), and from then on runs
phase 2 per batch of slots (a *commander* per batch), pipelined. Preemption by
a higher ballot sends it back to following with a randomized backoff.

Acceptor state - the promised ballot (metadata ``paxos.promised``) and, per
slot, the accepted ``(ballot, value)`` as ``Entry(slot, packed ballot, data,
kind)`` - reaches storage through the ``Ready``'s write, in the same batch as
the replies that depend on it. Slots may have holes.

With ``PaxosConfig.pipelined_writes`` an established leader sends its phase 2
messages before its own acceptances are durable (``PipelinedNode``) and counts
itself in a commander's quorum only once ``persisted`` reports them durable.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from random import Random
from typing import Any, ClassVar, Final

from pyconsensus.core.errors import (
    NotLeader,
    OutcomeUnknown,
    ProposalDropped,
    ProposalTooLarge,
    StorageCorruption,
)
from pyconsensus.core.membership import cluster_membership
from pyconsensus.core.outbox import Outbox
from pyconsensus.core.quorum import majority
from pyconsensus.core.reads import ReadIndexQueue
from pyconsensus.core.ready import ProposalCommitted, Ready, RequestFailed, Write
from pyconsensus.core.screening import screen
from pyconsensus.core.snapshots import SnapshotMeta
from pyconsensus.core.storage import Storage
from pyconsensus.core.transfer import SnapshotReceiver, SnapshotSender
from pyconsensus.core.types import (
    Entry,
    EntryKind,
    NodeId,
    RequestId,
    Role,
    Status,
)
from pyconsensus.core.validation import chunk_problem, entries_problem, is_index, snapshot_problem
from pyconsensus.paxos.ballot import MAX_NODE_ID, Ballot
from pyconsensus.paxos.config import PaxosConfig
from pyconsensus.paxos.leader import Leader
from pyconsensus.paxos.messages import (
    Accept,
    Accepted,
    CatchUp,
    Decision,
    Heartbeat,
    HeartbeatReply,
    InstallSnapshot,
    Nack,
    PaxosMessage,
    Prepare,
    Promise,
    SnapshotAck,
)
from pyconsensus.paxos.proposer import Candidate
from pyconsensus.paxos.slots import SlotLog

PROMISED_KEY: Final = "paxos.promised"
"""Metadata key of the acceptor's promised ballot (packed)."""

# Messages a proposer sends under its own ballot; the rest answer a ballot of the receiver.
_FROM_PROPOSER = (Prepare, Accept, Decision, Heartbeat)


class MultiPaxosNode:
    """One Multi-Paxos participant: acceptor, learner and (at times) proposer.

    ``members`` lists every acceptor, this node included. ``storage`` is read
    once, here; afterwards every change to it comes out of ``ready()``.

    Proposals at a node that is not the leader are answered with
    ``NotLeader(hint)``, not forwarded: the client retries at the hint.

    While it runs for leader the node holds a ``Candidate``, and while it leads
    a ``Leader``: the proposer's state for that one ballot, dropped with it.
    """

    leader_class: ClassVar[type[Leader]] = Leader
    """The proposer once phase 1 succeeded (broken variants in tests replace it)."""

    def __init__(
        self,
        node_id: NodeId,
        members: Sequence[NodeId],
        storage: Storage,
        rng: Random,
        config: PaxosConfig | None = None,
    ) -> None:
        self.membership = cluster_membership(node_id, members, max_id=MAX_NODE_ID)
        self._id = node_id
        self.members = self.membership.ordered()
        self.peers = self.membership.peers_of(node_id)
        self._peer_set = frozenset(self.peers)
        # A plain majority for now: proposers count votes by ``quorum.size``.
        self.quorum = majority(self.membership.voters)
        self.config = config if config is not None else PaxosConfig()
        self._rng = rng
        self.counters: Counter[str] = Counter()
        self.outbox = Outbox()

        # Acceptor: durable state, recovered from storage.
        self.promised = _load_promised(storage)
        # Pipelined writes: the promise (packed) the driver reported durable.
        self._pipelined = self.config.pipelined_writes
        self.durable_promise = self.promised.packed
        self._snapshot = storage.snapshot()
        self.log = _load_log(storage, self._snapshot, self.promised)

        # Learner: slots up to ``learned`` are known chosen; ``applied`` were handed out.
        self.learned = self.applied = self.log.base
        if self._snapshot is not None:
            self.outbox.restore(self._snapshot)
        # Snapshot transfer: to learners that need compacted slots, from
        # whoever holds a snapshot we need (core/transfer.py).
        self.sender = SnapshotSender(storage.snapshots, self.config.transfer, self.counters)
        self._receiver = SnapshotReceiver(storage.snapshots, self.counters)
        self._receiver_source: NodeId | None = None  # who sends what we receive
        self._leader_commit = 0  # chosen prefix announced by the leader we follow
        self._catchup_from = 0  # first slot of our last CatchUp request
        self._catchup_wait = 0  # ticks since that request

        # Proposer.
        self.proposer: Candidate | Leader | None = None  # while we run for or hold a ballot
        self.leader: NodeId | None = None
        self._highest_round = self.promised.round
        self._failures = 0  # consecutive failed phase 1 attempts (for the backoff)
        self._elapsed = 0  # ticks since we last heard from a leader (or started phase 1)
        self._timeout = self._random_timeout()

        # Requests.
        self._next_request = 1
        self._pending: dict[int, tuple[RequestId, int, bytes]] = {}  # slot -> (id, term, data)
        # The leader's reads: deferred until its recovered slots are chosen,
        # then waiting for a round (numbered across our leaderships).
        self.reads: ReadIndexQueue[RequestId] = ReadIndexQueue()

    # ------------------------------------------------------------------
    # The contract

    @property
    def id(self) -> NodeId:
        return self._id

    @property
    def role(self) -> Role:
        """FOLLOWER, CANDIDATE (running phase 1) or LEADER."""
        proposer = self.proposer
        if proposer is None:
            return Role.FOLLOWER
        return Role.LEADER if isinstance(proposer, Leader) else Role.CANDIDATE

    @property
    def ballot(self) -> Ballot:
        """Our ballot while a candidate or leader; ``Ballot.ZERO`` otherwise."""
        proposer = self.proposer
        return Ballot.ZERO if proposer is None else proposer.ballot

    @property
    def recovery_end(self) -> int:
        """The last slot our leadership recovered in phase 1 (0 if not leading)."""
        proposer = self.proposer
        return proposer.recovery_end if isinstance(proposer, Leader) else 0

    def tick(self) -> None:
        self.sender.tick()
        proposer = self.proposer
        if isinstance(proposer, Leader):
            proposer.tick()
            return
        self._elapsed += 1
        if self.leader is not None and self.learned < self._leader_commit:
            self._catchup_wait += 1
            if self._catchup_wait >= self.config.retry_ticks:
                self._request_catchup()
        if self._elapsed >= self._timeout:
            if proposer is not None:
                self._failures += 1  # phase 1 timed out without a quorum
            self._start_phase1()

    def receive(self, message: object) -> None:
        handler = screen(message, _HANDLERS, self._validate, self.counters)
        if handler is None:
            return
        msg: PaxosMessage = message  # type: ignore[assignment]
        self._see(msg.ballot)
        handler(self, msg)

    def propose(self, data: bytes) -> RequestId:
        if not isinstance(data, bytes):
            raise TypeError(f"a proposal must be bytes, not {type(data).__name__}")
        rid = self._new_request()
        leader = self.proposer
        if not isinstance(leader, Leader):
            self.outbox.reply(RequestFailed(rid, NotLeader(self.leader)))
            return rid
        if len(data) > self.config.max_entry_bytes:
            error = ProposalTooLarge(len(data), self.config.max_entry_bytes)
            self.outbox.reply(RequestFailed(rid, error))
            return rid
        self._pending[leader.propose(data)] = (rid, leader.term, data)
        return rid

    def read(self) -> RequestId:
        rid = self._new_request()
        leader = self.proposer
        if isinstance(leader, Leader):
            leader.read(rid)
        else:
            self.outbox.reply(RequestFailed(rid, NotLeader(self.leader)))
        return rid

    def compact(self, index: int, meta: SnapshotMeta) -> None:
        if meta.index != index:
            raise ValueError(f"cannot compact to slot {index} with a snapshot at {meta.index}")
        if index <= self.log.base:
            return
        if index > self.applied:
            raise ValueError(
                f"cannot compact to slot {index}: only {self.applied} has been applied"
            )
        entry = self.log.get(index)
        assert entry is not None  # every slot up to ``learned`` holds its chosen value
        if meta.term != entry.term:
            raise ValueError(f"snapshot at {index} has term {meta.term}, the slot has {entry.term}")
        self.log.compact_to(index, entry.term)
        self._snapshot = meta
        self.outbox.snapshot(meta, discard_log=False, restore=False)
        self.counters["snapshots.taken"] += 1

    def snapshot_installed(self, meta: SnapshotMeta) -> None:
        """The driver installed the received snapshot ``meta`` and restored the
        state machine from it (``SnapshotEvents``)."""
        if not self._receiver.finished(meta):
            return
        self.install(meta)
        sender = self._receiver_source
        if sender is not None:
            self.outbox.send(SnapshotAck(self._id, sender, self.promised, meta, meta.size, True))
        self._learn(self._leader_commit)
        if isinstance(self.proposer, Candidate):
            self.proposer.maybe_lead()

    def snapshot_rejected(self, meta: SnapshotMeta, reason: str) -> None:
        """The driver could not install ``meta``: ask for it again from the start."""
        if not self._receiver.finished(meta):
            return
        self.counters["snapshots.rejected"] += 1
        if self._receiver_source is not None:
            self.outbox.send(SnapshotAck(self._id, self._receiver_source, self.promised, meta, 0))

    def fetch_snapshot(self, holder: NodeId, meta: SnapshotMeta) -> None:
        """Ask ``holder`` for the bytes of its snapshot ``meta``."""
        if self._receiver.installing is not None:
            return
        self._receiver_source = holder
        offset = self._receiver.position(meta)
        self.outbox.send(SnapshotAck(self._id, holder, self.promised, meta, offset))

    def has_ready(self) -> bool:
        leader = self.proposer
        return (
            self.outbox.has_output()
            or (self.learned > self.applied and self._receiver.installing is None)
            or (isinstance(leader, Leader) and leader.has_output())
            or self.sender.has_chunks()
        )

    def ready(self) -> Ready:
        leader = self.proposer
        if isinstance(leader, Leader):
            leader.flush()
        send = self.outbox.send_early if self._pipelined else self.outbox.send
        for chunk in self.sender.chunks():
            send(chunk.message(InstallSnapshot, self._id, self.promised))
        committed: Sequence[Entry] = ()
        # While a received snapshot is being installed, nothing below it may be applied.
        if self.learned > self.applied and self._receiver.installing is None:
            # No holes below ``learned``: every slot there holds its chosen value.
            chosen = self.log.run(self.applied + 1, self.learned + 1)
            self.applied = self.learned
            if self._pending:
                self._resolve_proposals(chosen)
            committed = chosen
        return self.outbox.take(committed)

    def status(self) -> Status:
        return Status(
            id=self._id,
            role=self.role,
            term=self.promised.packed,
            leader=self.leader,
            commit_index=self.learned,
            applied_index=self.applied,
            last_index=self.log.last_index,
        )

    def replication(self) -> dict[NodeId, int]:
        """While leading, the highest slot each acceptor accepted in our
        ballot (``ReportsReplication``)."""
        leader = self.proposer
        if not isinstance(leader, Leader):
            return {}
        return {peer: state.accepted for peer, state in leader.peers.items()}

    @property
    def pipelined_writes(self) -> bool:
        """``PaxosConfig.pipelined_writes`` (see ``PipelinedNode``)."""
        return self._pipelined

    def persisted(self, write: Write) -> None:
        """The driver reports ``write`` durable (``PipelinedNode``): its promise,
        and - while we lead - our acceptances in our ballot, which now count
        towards their commanders' quorums."""
        promised = write.metadata.get(PROMISED_KEY)
        if isinstance(promised, int) and promised > self.durable_promise:
            self.durable_promise = promised
        leader = self.proposer
        if isinstance(leader, Leader) and write.entries:
            leader.persisted(write.entries)

    @property
    def snapshot(self) -> SnapshotMeta | None:
        """The latest snapshot this node holds."""
        return self._snapshot

    # ------------------------------------------------------------------
    # Validation of what peers send

    def _validate(self, msg: PaxosMessage) -> str | None:  # noqa: C901 - one flat check per message type
        """Reject what no correct peer sends; the reason names a counter."""
        if msg.dst != self._id:
            return "wrong_destination"
        if msg.src not in self._peer_set:
            return "unknown_sender"
        ballot: object = msg.ballot  # decoded input: trust no annotation
        if type(ballot) is not Ballot:
            return "malformed"
        if isinstance(msg, (InstallSnapshot, SnapshotAck)):
            return _check_transfer(msg)
        owner = msg.src if isinstance(msg, _FROM_PROPOSER) else msg.dst
        if msg.ballot.node_id != owner or msg.ballot.round < 1:
            return "bad_ballot"
        if isinstance(msg, Accept):
            if not is_index(msg.commit):
                return "bad_index"
            return _check_run(msg.entries, msg.ballot.packed)
        if isinstance(msg, Accepted):
            if not (_is_slot(msg.first) and _is_slot(msg.last)):
                return "bad_index"
            if msg.first > msg.last:
                return "bad_index"
        elif isinstance(msg, (Prepare, CatchUp)):
            if not _is_slot(msg.first_slot):
                return "bad_index"
        elif isinstance(msg, Promise):
            return _check_promise(msg)
        elif isinstance(msg, Nack):
            promised: object = msg.promised
            if type(promised) is not Ballot:
                return "malformed"
            if msg.promised <= msg.ballot:
                return "bad_ballot"
        elif isinstance(msg, (Decision, Heartbeat)):
            if not is_index(msg.commit):
                return "bad_index"
            if isinstance(msg, Heartbeat) and not is_index(msg.read_round):
                return "bad_index"
        elif isinstance(msg, HeartbeatReply) and not is_index(msg.read_round):
            return "bad_index"
        return None

    def _see(self, ballot: Ballot) -> None:
        """Remember the highest round in use, so our next ballot outranks it."""
        self._highest_round = max(self._highest_round, ballot.round)

    # ------------------------------------------------------------------
    # Acceptor

    def _promise(self, ballot: Ballot) -> None:
        """Raise the promise to ``ballot``; durable before any reply of this batch."""
        self.promised = ballot
        self.outbox.set_metadata(PROMISED_KEY, ballot.packed)

    def _on_prepare(self, msg: Prepare) -> None:
        ballot = msg.ballot
        if ballot == self.promised:
            self._send_promise(msg)  # a duplicate: promising again changes nothing
            return
        if ballot < self.promised:
            self.outbox.send(Nack(self._id, msg.src, ballot, self.promised))
            return
        if self.proposer is not None and ballot < self.proposer.ballot:
            # We campaign above ``ballot`` but promised nothing above it: a Nack
            # would claim a promise we never made, and could depose a leader
            # whose phase 1, already won, this Prepare belongs to (delivered
            # late). Our own Prepare preempts that proposer if it still campaigns.
            self.counters["ignored.prepare_below_own_ballot"] += 1
            return
        if self._in_lease(msg.src):
            self.counters["ignored.prepare_in_lease"] += 1
            return
        self._promise(ballot)
        if self.proposer is not None:
            self.counters["proposer.preempted"] += 1
            self.become_follower(None)
        self.leader = None
        self._elapsed = 0  # give the proposer time to finish before competing
        self._send_promise(msg)

    def _send_promise(self, msg: Prepare) -> None:
        log = self.log
        snapshot = None
        if msg.first_slot <= log.base and self._snapshot is not None:
            snapshot = self._snapshot  # the slots asked for were compacted into it
        accepted = tuple(log.entries_from(max(msg.first_slot, log.base + 1)))
        self.outbox.send(Promise(self._id, msg.src, msg.ballot, accepted, snapshot))

    def _in_lease(self, src: NodeId) -> bool:
        """Whether we heard from a live leader recently enough to ignore another
        proposer (a leader trusts itself until its quorum check fails)."""
        if not self.config.lease:
            return False
        if isinstance(self.proposer, Leader):
            return True
        return (
            self.leader is not None
            and src != self.leader
            and self._elapsed < self.config.election_ticks
        )

    def _follow(self, msg: Accept | Decision | Heartbeat) -> bool:
        """Take ``msg.src`` as the leader of ``msg.ballot`` if the ballot is at
        least our promise; otherwise refuse it (False)."""
        ballot = msg.ballot
        if ballot < self.promised:
            if not isinstance(msg, Decision):
                self.outbox.send(Nack(self._id, msg.src, ballot, self.promised))
            self.counters["ignored.below_promise"] += 1
            return False
        if ballot != self.promised:
            self._promise(ballot)
        if self.proposer is not None:
            self.become_follower(None)
        if self.leader != msg.src:
            self.leader = msg.src
            # Slots the previous leader said were chosen are learned through
            # this one now: values accepted in its ballot are the proof.
            self._leader_commit = self.learned
            self._catchup_from = 0
        self._elapsed = 0
        self._failures = 0
        return True

    def _on_accept(self, msg: Accept) -> None:
        if not self._follow(msg):
            return
        entries = msg.entries
        first = entries[0].index
        skip = self.learned + 1 - first
        if skip < len(entries):
            # Slots already learned stay as they are: their value is chosen, and
            # any value proposed for them in a later ballot is the same one.
            new = entries[skip:] if skip > 0 else entries
            self.log.put(new)
            self.outbox.put(new)
        self._learn(msg.commit)
        self.outbox.send(Accepted(self._id, msg.src, msg.ballot, first, entries[-1].index))

    # ------------------------------------------------------------------
    # Learner

    def _on_decision(self, msg: Decision) -> None:
        if self._follow(msg):
            self._learn(msg.commit)

    def _on_heartbeat(self, msg: Heartbeat) -> None:
        if not self._follow(msg):
            return
        self._learn(msg.commit)
        self.outbox.send(HeartbeatReply(self._id, msg.src, msg.ballot, msg.read_round))

    def _learn(self, commit: int) -> None:
        """The leader of our promised ballot says slots up to ``commit`` are
        chosen: learn those whose value we accepted in that ballot, in order."""
        self._leader_commit = max(self._leader_commit, commit)
        target = self._leader_commit
        learned = self.learned
        if learned >= target:
            return
        term = self.promised.packed
        slots = self.log.slots
        offset = learned - self.log.base  # position of slot learned + 1
        end = min(target - self.log.base, len(slots))
        while offset < end:
            entry = slots[offset]
            if entry is None or entry.term != term:
                break
            offset += 1
        self.learned = learned = self.log.base + offset
        if learned < target:
            self._request_catchup()

    def _request_catchup(self) -> None:
        """Ask the leader for chosen values we lack (a hole, or a value from an
        older ballot), unless we recently asked for the same ones."""
        first = self.learned + 1
        if self.leader is None or (
            first == self._catchup_from and self._catchup_wait < self.config.retry_ticks
        ):
            return
        self._catchup_from = first
        self._catchup_wait = 0
        self.counters["catchup.requested"] += 1
        self.outbox.send(CatchUp(self._id, self.leader, self.promised, first))

    def _on_install_snapshot(self, msg: InstallSnapshot) -> None:
        meta = msg.meta
        if meta.index <= self.learned and self._receiver.installing is None:
            # We learned those slots meanwhile: the sender may stop.
            self.outbox.send(SnapshotAck(self._id, msg.src, msg.ballot, meta, meta.size, True))
            return
        self._receiver_source = msg.src
        ack = self._receiver.take(meta, msg.offset, msg.data, self.outbox)
        self.outbox.send(SnapshotAck(self._id, msg.src, msg.ballot, meta, ack))

    def _on_snapshot_ack(self, msg: SnapshotAck) -> None:
        sender = self.sender
        if msg.installed:
            sender.finish(msg.src)
            return
        if sender.sending(msg.src) != msg.meta:
            if msg.meta != self._snapshot:
                self.counters["ignored.stale_snapshot"] += 1
                return
            if not sender.start(msg.src, msg.meta):
                return
        sender.acknowledge(msg.src, msg.meta, msg.offset)

    def install(self, snapshot: SnapshotMeta) -> None:
        """Replace slots up to the snapshot's index by the snapshot, which the
        state machine already holds (``snapshot_installed``)."""
        index = snapshot.index
        for slot in [s for s in self._pending if s <= index]:
            rid = self._pending.pop(slot)[0]
            self.outbox.reply(RequestFailed(rid, OutcomeUnknown(slot)))
        self.log.compact_to(index, snapshot.term)
        self.learned = max(self.learned, index)
        self.applied = index
        self._snapshot = snapshot
        self.outbox.snapshot(snapshot, discard_log=False, restore=False)
        self.counters["snapshots.installed"] += 1

    # ------------------------------------------------------------------
    # Proposer: phase 1 (the scout)

    def _random_timeout(self) -> int:
        election = self.config.election_ticks
        spread = election << min(self._failures, self.config.max_backoff_exponent)
        return election + self._rng.randrange(spread)

    def _start_phase1(self) -> None:
        ballot = Ballot(max(self._highest_round, self.promised.round) + 1, self._id)
        self._highest_round = ballot.round
        candidate = Candidate(self, ballot)
        self.proposer = candidate
        self.leader = None
        self._elapsed = 0
        self._timeout = self._random_timeout()
        self.counters["phase1.started"] += 1
        if self.quorum.size == 1:
            self.become_leader(ballot, ())
            return
        candidate.start()

    def _on_promise(self, msg: Promise) -> None:
        candidate = self.proposer
        if isinstance(candidate, Candidate):
            candidate.on_promise(msg)
        else:
            self.counters["ignored.stale_promise"] += 1

    def _on_nack(self, msg: Nack) -> None:
        if self.proposer is None or msg.ballot != self.proposer.ballot:
            self.counters["ignored.stale_nack"] += 1
            return
        self._see(msg.promised)
        self.counters["proposer.preempted"] += 1
        self._failures += 1
        self.become_follower(None)

    def become_follower(self, leader: NodeId | None) -> None:
        """Drop our proposer, if any, and follow ``leader`` (``None``: unknown)."""
        if isinstance(self.proposer, Leader):
            self.proposer.stop(leader)
        self.proposer = None
        self.leader = leader
        self._elapsed = 0
        self._timeout = self._random_timeout()

    def become_leader(self, ballot: Ballot, promises: Iterable[Promise]) -> None:
        """Phase 1 of ``ballot`` succeeded: our promise joins the ``promises``
        of a quorum, and the leader proposes again what they reported."""
        if ballot < self.promised:  # pragma: no cover - a higher promise ends phase 1 first
            self.become_follower(None)
            return
        if ballot != self.promised:
            self._promise(ballot)
        leader = self.leader_class(self, ballot)
        self.proposer = leader
        self.leader = self._id
        self._failures = 0
        leader.recover(promises)

    def _on_accepted(self, msg: Accepted) -> None:
        leader = self._leading()
        if leader is not None:
            leader.on_accepted(msg)

    def _on_heartbeat_reply(self, msg: HeartbeatReply) -> None:
        leader = self._leading()
        if leader is not None:
            leader.on_heartbeat_reply(msg)

    def _on_catchup(self, msg: CatchUp) -> None:
        leader = self._leading()
        if leader is not None:
            leader.on_catchup(msg)

    def _leading(self) -> Leader | None:
        """Our leadership, for an answer to it; ``None`` (counted) if we do not lead."""
        leader = self.proposer
        if isinstance(leader, Leader):
            return leader
        self.counters["ignored.not_leader"] += 1
        return None

    def _new_request(self) -> RequestId:
        rid = self._next_request
        self._next_request += 1
        return rid

    # ------------------------------------------------------------------
    # Proposals' fate

    def _resolve_proposals(self, committed: Sequence[Entry]) -> None:
        pending = self._pending
        reply = self.outbox.reply
        for entry in committed:
            item = pending.pop(entry.index, None)
            if item is None:
                continue
            rid, term, data = item
            # Our value may have been chosen in a later ballot, re-proposed by
            # the next leader: the same bytes in the same slot.
            if entry.term == term or (entry.kind is EntryKind.NORMAL and entry.data == data):
                reply(ProposalCommitted(rid, entry.index))
            else:
                reply(RequestFailed(rid, ProposalDropped(entry.index)))


_HANDLERS: dict[type, Callable[[MultiPaxosNode, Any], None]] = {
    Prepare: MultiPaxosNode._on_prepare,
    Promise: MultiPaxosNode._on_promise,
    Accept: MultiPaxosNode._on_accept,
    Accepted: MultiPaxosNode._on_accepted,
    Nack: MultiPaxosNode._on_nack,
    Decision: MultiPaxosNode._on_decision,
    Heartbeat: MultiPaxosNode._on_heartbeat,
    HeartbeatReply: MultiPaxosNode._on_heartbeat_reply,
    CatchUp: MultiPaxosNode._on_catchup,
    InstallSnapshot: MultiPaxosNode._on_install_snapshot,
    SnapshotAck: MultiPaxosNode._on_snapshot_ack,
}


def _is_slot(value: object) -> bool:
    return type(value) is int and value >= 1


def _check_entry(entry: object) -> bool:
    return (
        type(entry) is Entry
        and _is_slot(entry.index)
        and is_index(entry.term)
        and type(entry.data) is bytes
        and type(entry.kind) is EntryKind
    )


def _check_run(entries: object, term: int) -> str | None:
    """An ``Accept``'s entries: a non-empty run of consecutive slots from slot 1
    on, all in the message's ballot."""
    if type(entries) is not tuple or not entries or not _check_entry(entries[0]):
        return "malformed"
    return entries_problem(
        entries, entries[0].index, min_term=term, max_term=term, term_reason="bad_ballot"
    )


def _check_promise(msg: Promise) -> str | None:
    accepted: object = msg.accepted
    if type(accepted) is not tuple:
        return "malformed"
    promised = msg.ballot.packed
    for entry in accepted:
        if not _check_entry(entry):
            return "malformed"
        if entry.term > promised or entry.term == 0:
            return "bad_ballot"  # nothing is accepted above the promise, or in no ballot
    if msg.snapshot is not None:
        return _check_snapshot(msg.snapshot, promised)
    return None


def _check_snapshot(snapshot: object, ballot: int) -> str | None:
    return snapshot_problem(snapshot, max_term=ballot, min_index=1, term_reason="bad_ballot")


def _check_transfer(msg: InstallSnapshot | SnapshotAck) -> str | None:
    """A snapshot transfer's ballot is only informative: any ballot will do."""
    if msg.ballot.round < 0:
        return "bad_ballot"
    problem = snapshot_problem(msg.meta, max_term=(1 << 63), min_index=1)
    if problem is not None:
        return problem
    if isinstance(msg, InstallSnapshot):
        return chunk_problem(msg.meta, msg.offset, msg.data, msg.done)
    installed: object = msg.installed  # decoded input: trust no annotation
    if type(installed) is not bool:
        return "malformed"
    return None if is_index(msg.offset) and msg.offset <= msg.meta.size else "bad_index"


def _load_promised(storage: Storage) -> Ballot:
    value = storage.metadata().get(PROMISED_KEY, 0)
    if not is_index(value):
        raise StorageCorruption(f"stored promise is {value!r}, not a packed ballot")
    assert isinstance(value, int)
    return Ballot.unpack(value)


def _load_log(storage: Storage, snapshot: SnapshotMeta | None, promised: Ballot) -> SlotLog:
    log = SlotLog(snapshot.index, snapshot.term) if snapshot is not None else SlotLog()
    ceiling = promised.packed
    for entry in storage.entries(log.base + 1, storage.last_index() + 1):
        if entry.term > ceiling:
            raise StorageCorruption(
                f"slot {entry.index} holds a value accepted in ballot "
                f"{Ballot.unpack(entry.term)}, above the promise {promised}"
            )
        log.put((entry,))
    return log
