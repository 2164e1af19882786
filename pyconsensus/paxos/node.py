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

from collections import Counter, deque
from collections.abc import Callable, Sequence
from random import Random
from typing import Any, Final

from pyconsensus.core.errors import (
    ConfigError,
    NotLeader,
    OutcomeUnknown,
    ProposalDropped,
    ProposalTooLarge,
    StorageCorruption,
)
from pyconsensus.core.outbox import Outbox
from pyconsensus.core.quorum import MajorityQuorum
from pyconsensus.core.ready import (
    Message,
    ProposalCommitted,
    ReadReady,
    Ready,
    RequestFailed,
    Write,
)
from pyconsensus.core.screening import screen
from pyconsensus.core.storage import Storage
from pyconsensus.core.types import (
    Entry,
    EntryKind,
    NodeId,
    RequestId,
    Role,
    Snapshot,
    Status,
)
from pyconsensus.paxos.ballot import MAX_NODE_ID, Ballot
from pyconsensus.paxos.config import PaxosConfig
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
)
from pyconsensus.paxos.slots import SlotLog

PROMISED_KEY: Final = "paxos.promised"
"""Metadata key of the acceptor's promised ballot (packed)."""

# Messages a proposer sends under its own ballot; the rest answer a ballot of the receiver.
_FROM_PROPOSER = (Prepare, Accept, Decision, Heartbeat, InstallSnapshot)


class Commander:
    """Phase 2 for one batch of consecutive slots ``first..last`` in the leader's
    ballot: it collects ``Accepted`` votes until a quorum has them."""

    __slots__ = ("chosen", "first", "last", "sent_at", "votes")

    def __init__(self, first: int, last: int, votes: set[NodeId], now: int) -> None:
        self.first = first
        self.last = last
        self.votes = votes
        self.chosen = False
        self.sent_at = now


class PeerState:
    """What a leader knows of one acceptor during its ballot."""

    __slots__ = ("active", "read_round")

    def __init__(self) -> None:
        self.active = False  # answered since the last quorum check
        self.read_round = 0  # highest read round it confirmed


class MultiPaxosNode:
    """One Multi-Paxos participant: acceptor, learner and (at times) proposer.

    ``members`` lists every acceptor, this node included. ``storage`` is read
    once, here; afterwards every change to it comes out of ``ready()``.

    Proposals at a node that is not the leader are answered with
    ``NotLeader(hint)``, not forwarded: the client retries at the hint.
    """

    def __init__(
        self,
        node_id: NodeId,
        members: Sequence[NodeId],
        storage: Storage,
        rng: Random,
        config: PaxosConfig | None = None,
    ) -> None:
        voters = frozenset(members)
        if node_id not in voters:
            raise ConfigError(f"node {node_id} is not among the members {list(members)}")
        if any(type(m) is not int or not 0 <= m <= MAX_NODE_ID for m in voters):
            raise ConfigError(
                f"member ids must be integers in [0, {MAX_NODE_ID}], got {list(members)}"
            )
        self._id = node_id
        self.members: tuple[NodeId, ...] = tuple(sorted(voters))
        self.peers: tuple[NodeId, ...] = tuple(m for m in self.members if m != node_id)
        self._peer_set = frozenset(self.peers)
        self.quorum = MajorityQuorum(voters)
        self._quorum_size = self.quorum.size
        self.config = config if config is not None else PaxosConfig()
        self._rng = rng
        self.counters: Counter[str] = Counter()
        self._outbox = Outbox()

        # Acceptor: durable state, recovered from storage.
        self.promised = _load_promised(storage)
        # Pipelined writes: what the driver reported durable so far - the
        # promise (packed), and the highest slot of our ballot's proposals
        # (while leading: they are written in slot order, so all below it too).
        self._pipelined = self.config.pipelined_writes
        self._durable_promise = self.promised.packed
        self._durable_slot = 0
        self._snapshot = storage.snapshot()
        self.log = _load_log(storage, self._snapshot, self.promised)

        # Learner: slots up to ``learned`` are known chosen; ``applied`` were handed out.
        self.learned = self.applied = self.log.base
        if self._snapshot is not None:
            self._outbox.restore(self._snapshot)
        self._leader_commit = 0  # chosen prefix announced by the leader we follow
        self._catchup_from = 0  # first slot of our last CatchUp request
        self._catchup_wait = 0  # ticks since that request

        # Proposer.
        self.role = Role.FOLLOWER
        self.ballot = Ballot.ZERO  # our ballot while a candidate or leader
        self.leader: NodeId | None = None
        self._highest_round = self.promised.round
        self._failures = 0  # consecutive failed phase 1 attempts (for the backoff)
        self._elapsed = 0  # ticks since we last heard from a leader (or started phase 1)
        self._timeout = self._random_timeout()
        self._promises: dict[NodeId, Promise] = {}

        # Leader.
        self.recovery_end = 0  # last slot recovered in phase 1
        self._term = 0  # our ballot, packed: the term of every entry we propose
        self._commanders: dict[int, Commander] = {}  # by first slot, in slot order
        self._unsent = 0  # first proposed slot not yet sent to acceptors (0: none)
        self._sent_commit = 0
        self._peers: dict[NodeId, PeerState] = {}
        self._now = 0  # leader ticks, for commander retries
        self._heartbeat_elapsed = 0
        self._quorum_elapsed = 0

        # Requests.
        self._next_request = 1
        self._pending: dict[int, tuple[RequestId, int, bytes]] = {}  # slot -> (id, term, data)
        self._read_round = 0
        self._reads: deque[tuple[int, RequestId, int]] = deque()  # (round, id, index)
        self._reads_waiting: list[RequestId] = []  # until the recovered slots are chosen
        self._read_broadcast = False

    # ------------------------------------------------------------------
    # The contract

    @property
    def id(self) -> NodeId:
        return self._id

    def tick(self) -> None:
        if self.role is Role.LEADER:
            self._tick_leader()
            return
        self._elapsed += 1
        if self.leader is not None and self.learned < self._leader_commit:
            self._catchup_wait += 1
            if self._catchup_wait >= self.config.retry_ticks:
                self._request_catchup()
        if self._elapsed >= self._timeout:
            if self.role is Role.CANDIDATE:
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
        rid = self._next_request
        self._next_request = rid + 1
        if self.role is not Role.LEADER:
            self._outbox.reply(RequestFailed(rid, NotLeader(self.leader)))
            return rid
        if len(data) > self.config.max_entry_bytes:
            error = ProposalTooLarge(len(data), self.config.max_entry_bytes)
            self._outbox.reply(RequestFailed(rid, error))
            return rid
        log = self.log
        slot = log.base + len(log.slots) + 1
        entry = Entry(slot, self._term, data)
        log.slots.append(entry)
        self._outbox.put_one(entry)
        if not self._unsent:
            self._unsent = slot
        self._pending[slot] = (rid, self._term, data)
        return rid

    def read(self) -> RequestId:
        rid = self._new_request()
        if self.role is not Role.LEADER:
            self._outbox.reply(RequestFailed(rid, NotLeader(self.leader)))
        elif self.learned < self.recovery_end:
            # The chosen prefix is only known complete once the slots recovered
            # in phase 1 are chosen again in our ballot.
            self._reads_waiting.append(rid)
        else:
            self._start_read(rid)
        return rid

    def compact(self, index: int, data: bytes) -> None:
        if index <= self.log.base:
            return
        if index > self.applied:
            raise ValueError(
                f"cannot compact to slot {index}: only {self.applied} has been applied"
            )
        entry = self.log.get(index)
        assert entry is not None  # every slot up to ``learned`` holds its chosen value
        snapshot = Snapshot(index, entry.term, data)
        self.log.compact_to(index, entry.term)
        self._snapshot = snapshot
        self._outbox.snapshot(snapshot, discard_log=False, restore=False)
        self.counters["snapshots.taken"] += 1

    def has_ready(self) -> bool:
        return (
            self._outbox.has_output()
            or self.learned > self.applied
            or (
                self.role is Role.LEADER
                and (self._unsent != 0 or self._sent_commit < self.learned or self._read_broadcast)
            )
        )

    def ready(self) -> Ready:
        if self.role is Role.LEADER:
            if self._unsent:
                self._launch(self._unsent, self.log.last_index)
                self._unsent = 0
            if self._sent_commit < self.learned:
                self._broadcast_decision()
            if self._read_broadcast:
                self._read_broadcast = False
                self._broadcast_heartbeat()
        committed: Sequence[Entry] = ()
        if self.learned > self.applied:
            # No holes below ``learned``: every slot there holds its chosen value.
            chosen = self.log.run(self.applied + 1, self.learned + 1)
            self.applied = self.learned
            if self._pending:
                self._resolve_proposals(chosen)
            committed = chosen
        return self._outbox.take(committed)

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

    @property
    def pipelined_writes(self) -> bool:
        """``PaxosConfig.pipelined_writes`` (see ``PipelinedNode``)."""
        return self._pipelined

    def persisted(self, write: Write) -> None:
        """The driver reports ``write`` durable (``PipelinedNode``): its promise,
        and - while we lead - our acceptances in our ballot, which now count
        towards their commanders' quorums."""
        promised = write.metadata.get(PROMISED_KEY)
        if isinstance(promised, int) and promised > self._durable_promise:
            self._durable_promise = promised
        if self.role is not Role.LEADER or not write.entries:
            return
        term = self._term
        top = max((e.index for e in write.entries if e.term == term), default=0)
        if top <= self._durable_slot:
            return
        self._durable_slot = top
        for commander in list(self._commanders.values()):  # in slot order
            if commander.last > top:
                break
            self._vote(commander, self._id)

    @property
    def snapshot(self) -> Snapshot | None:
        """The latest snapshot this node holds."""
        return self._snapshot

    # ------------------------------------------------------------------
    # Validation of what peers send

    def _validate(self, msg: PaxosMessage) -> str | None:
        """Reject what no correct peer sends; the reason names a counter."""
        if msg.dst != self._id:
            return "wrong_destination"
        if msg.src not in self._peer_set:
            return "unknown_sender"
        ballot: object = msg.ballot  # decoded input: trust no annotation
        if type(ballot) is not Ballot:
            return "malformed"
        owner = msg.src if isinstance(msg, _FROM_PROPOSER) else msg.dst
        if msg.ballot.node_id != owner or msg.ballot.round < 1:
            return "bad_ballot"
        if isinstance(msg, Accept):
            if not _is_index(msg.commit):
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
            if not _is_index(msg.commit):
                return "bad_index"
            if isinstance(msg, Heartbeat) and not _is_index(msg.read_round):
                return "bad_index"
        elif isinstance(msg, HeartbeatReply):
            if not _is_index(msg.read_round):
                return "bad_index"
        elif isinstance(msg, InstallSnapshot):
            return _check_snapshot(msg.snapshot, msg.ballot.packed)
        return None

    def _see(self, ballot: Ballot) -> None:
        """Remember the highest round in use, so our next ballot outranks it."""
        self._highest_round = max(self._highest_round, ballot.round)

    # ------------------------------------------------------------------
    # Acceptor

    def _promise(self, ballot: Ballot) -> None:
        """Raise the promise to ``ballot``; durable before any reply of this batch."""
        self.promised = ballot
        self._outbox.set_metadata(PROMISED_KEY, ballot.packed)

    def _on_prepare(self, msg: Prepare) -> None:
        ballot = msg.ballot
        if ballot == self.promised:
            self._send_promise(msg)  # a duplicate: promising again changes nothing
            return
        if ballot < self.promised:
            self._outbox.send(Nack(self._id, msg.src, ballot, self.promised))
            return
        if self.role is not Role.FOLLOWER and ballot < self.ballot:
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
        if self.role is not Role.FOLLOWER:
            self.counters["proposer.preempted"] += 1
            self._become_follower(None)
        self.leader = None
        self._elapsed = 0  # give the proposer time to finish before competing
        self._send_promise(msg)

    def _send_promise(self, msg: Prepare) -> None:
        log = self.log
        snapshot = None
        if msg.first_slot <= log.base and self._snapshot is not None:
            snapshot = self._snapshot  # the slots asked for were compacted into it
        accepted = tuple(log.entries_from(max(msg.first_slot, log.base + 1)))
        self._outbox.send(Promise(self._id, msg.src, msg.ballot, accepted, snapshot))

    def _in_lease(self, src: NodeId) -> bool:
        """Whether we heard from a live leader recently enough to ignore another
        proposer (a leader trusts itself until its quorum check fails)."""
        if not self.config.lease:
            return False
        if self.role is Role.LEADER:
            return True
        return (
            self.leader is not None
            and src != self.leader
            and self._elapsed < self.config.election_ticks
        )

    def _follow(self, msg: Accept | Decision | Heartbeat | InstallSnapshot) -> bool:
        """Take ``msg.src`` as the leader of ``msg.ballot`` if the ballot is at
        least our promise; otherwise refuse it (False)."""
        ballot = msg.ballot
        if ballot < self.promised:
            if not isinstance(msg, Decision):
                self._outbox.send(Nack(self._id, msg.src, ballot, self.promised))
            self.counters["ignored.below_promise"] += 1
            return False
        if ballot != self.promised:
            self._promise(ballot)
        if self.role is not Role.FOLLOWER:
            self._become_follower(None)
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
            self._outbox.put(new)
        self._learn(msg.commit)
        self._outbox.send(Accepted(self._id, msg.src, msg.ballot, first, entries[-1].index))

    # ------------------------------------------------------------------
    # Learner

    def _on_decision(self, msg: Decision) -> None:
        if self._follow(msg):
            self._learn(msg.commit)

    def _on_heartbeat(self, msg: Heartbeat) -> None:
        if not self._follow(msg):
            return
        self._learn(msg.commit)
        self._outbox.send(HeartbeatReply(self._id, msg.src, msg.ballot, msg.read_round))

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
        self._outbox.send(CatchUp(self._id, self.leader, self.promised, first))

    def _on_install_snapshot(self, msg: InstallSnapshot) -> None:
        if not self._follow(msg):
            return
        if msg.snapshot.index > self.learned:
            self._install(msg.snapshot)
        self._learn(self._leader_commit)

    def _install(self, snapshot: Snapshot) -> None:
        """Replace slots up to the snapshot's index by the snapshot."""
        index = snapshot.index
        for slot in [s for s in self._pending if s <= index]:
            rid = self._pending.pop(slot)[0]
            self._outbox.reply(RequestFailed(rid, OutcomeUnknown(slot)))
        self.log.compact_to(index, snapshot.term)
        self.learned = self.applied = index
        self._snapshot = snapshot
        self._outbox.snapshot(snapshot, discard_log=False, restore=True)
        self.counters["snapshots.installed"] += 1

    # ------------------------------------------------------------------
    # Proposer: phase 1 (the scout)

    def _random_timeout(self) -> int:
        election = self.config.election_ticks
        spread = election << min(self._failures, self.config.max_backoff_exponent)
        return election + self._rng.randrange(spread)

    def _start_phase1(self) -> None:
        self.ballot = Ballot(max(self._highest_round, self.promised.round) + 1, self._id)
        self._highest_round = self.ballot.round
        self.role = Role.CANDIDATE
        self.leader = None
        self._promises = {}
        self._elapsed = 0
        self._timeout = self._random_timeout()
        self.counters["phase1.started"] += 1
        if self._quorum_size == 1:
            self._become_leader()
            return
        # Our own promise is counted last (in _become_leader): a proposer that
        # hears from no one never raises its promise, so a node cut off from
        # the others does not outbid the leader it comes back to.
        for peer in self.peers:
            self._outbox.send(Prepare(self._id, peer, self.ballot, self.learned + 1))

    def _on_promise(self, msg: Promise) -> None:
        if self.role is not Role.CANDIDATE or msg.ballot != self.ballot:
            self.counters["ignored.stale_promise"] += 1
            return
        if msg.snapshot is not None and msg.snapshot.index > self.learned:
            # The acceptor compacted slots we never learned: they are chosen,
            # and its snapshot is the only record of them left.
            self._install(msg.snapshot)
        self._promises[msg.src] = msg
        if len(self._promises) + 1 >= self._quorum_size:
            self._become_leader()

    def _on_nack(self, msg: Nack) -> None:
        if self.role is Role.FOLLOWER or msg.ballot != self.ballot:
            self.counters["ignored.stale_nack"] += 1
            return
        self._see(msg.promised)
        self.counters["proposer.preempted"] += 1
        self._failures += 1
        self._become_follower(None)

    def _become_follower(self, leader: NodeId | None) -> None:
        if self.role is Role.LEADER:
            self._fail_reads(NotLeader(leader))
            self._commanders = {}
            self._peers = {}
            self._unsent = 0
        self.role = Role.FOLLOWER
        self.leader = leader
        self._promises = {}
        self._elapsed = 0
        self._timeout = self._random_timeout()

    def _become_leader(self) -> None:
        """Phase 1 succeeded: adopt, for every slot above our chosen prefix, the
        value accepted in the highest ballot any promise reported (a no-op where
        none did), and propose all of them again in our ballot."""
        ballot = self.ballot
        if ballot < self.promised:  # pragma: no cover - a higher promise ends phase 1 first
            self._become_follower(None)
            return
        if ballot != self.promised:
            self._promise(ballot)
        term = ballot.packed
        start = self.learned
        highest: dict[int, Entry] = {e.index: e for e in self.log.entries_from(start + 1)}
        for promise in self._promises.values():
            for entry in promise.accepted:
                if entry.index > start:
                    known = highest.get(entry.index)
                    if known is None or entry.term > known.term:
                        highest[entry.index] = entry
        end = max(highest, default=start)
        recovered = [
            self._recovered_entry(slot, highest.get(slot), term)
            for slot in range(start + 1, end + 1)
        ]
        self.role = Role.LEADER
        self.leader = self._id
        self._term = term
        self._promises = {}
        self._failures = 0
        self._peers = {peer: PeerState() for peer in self.peers}
        self._commanders = {}
        self._durable_slot = 0
        self._sent_commit = self.learned
        self._heartbeat_elapsed = self._quorum_elapsed = 0
        self.recovery_end = end
        if recovered:
            self.log.put(recovered)
            self._outbox.put(recovered)
            self._unsent = start + 1
        self.counters["phase1.won"] += 1
        self._broadcast_heartbeat()

    def _recovered_entry(self, slot: int, highest: Entry | None, term: int) -> Entry:
        """The value to propose again for ``slot``: the highest-ballot one
        accepted there, or a no-op to fill the gap."""
        if highest is None:
            return Entry(slot, term, b"", EntryKind.NOOP)
        return Entry(slot, term, highest.data, highest.kind)

    # ------------------------------------------------------------------
    # Leader: phase 2 (commanders), decisions, liveness

    def _tick_leader(self) -> None:
        self._now += 1
        self._heartbeat_elapsed += 1
        self._quorum_elapsed += 1
        if self.config.lease and self._quorum_elapsed >= self.config.election_ticks:
            self._quorum_elapsed = 0
            if not self._quorum_active():
                self.counters["leader.lost_quorum"] += 1
                self._become_follower(None)
                return
        if self._heartbeat_elapsed >= self.config.heartbeat_ticks:
            self._heartbeat_elapsed = 0
            self._broadcast_heartbeat()
        self._retry_commanders()

    def _quorum_active(self) -> bool:
        active = 1
        for peer in self._peers.values():
            active += peer.active
            peer.active = False
        return active >= self._quorum_size

    def _launch(self, first: int, last: int) -> None:
        """Start commanders for slots ``first..last`` and send their ``Accept``s."""
        step = self.config.max_entries_per_message
        commanders = self._commanders
        log = self.log
        commit = self.learned
        for lo in range(first, last + 1, step):
            hi = min(lo + step - 1, last)
            # The leader accepted its own proposals first; pipelined, that
            # acceptance counts only once durable (``persisted``), or a value
            # could be chosen with a copy that a crash loses.
            counted = not self._pipelined or hi <= self._durable_slot
            commander = Commander(lo, hi, {self._id} if counted else set(), self._now)
            commanders[lo] = commander
            entries = tuple(log.run(lo, hi + 1))
            for peer in self.peers:
                self._send_leader(Accept(self._id, peer, self.ballot, entries, commit))
            if len(commander.votes) >= self._quorum_size:
                commander.chosen = True
        self._sent_commit = commit
        self._advance_commit()

    def _retry_commanders(self) -> None:
        """Send again the ``Accept``s a commander has not had answered for a while,
        merging neighbouring batches per acceptor."""
        stale = [
            c
            for c in self._commanders.values()
            if not c.chosen and self._now - c.sent_at >= self.config.retry_ticks
        ]
        if not stale:
            return
        self.counters["accept.retried"] += len(stale)
        limit = self.config.max_entries_per_message
        for peer in self.peers:
            runs: list[list[int]] = []  # [first, last] of merged batches
            for c in stale:
                if peer in c.votes:
                    continue
                if runs and runs[-1][1] + 1 == c.first and c.last - runs[-1][0] < limit:
                    runs[-1][1] = c.last
                else:
                    runs.append([c.first, c.last])
            for lo, hi in runs:
                entries = tuple(self.log.run(lo, hi + 1))
                self._send_leader(Accept(self._id, peer, self.ballot, entries, self.learned))
        for c in stale:
            c.sent_at = self._now

    def _leader_peer(self, msg: Accepted | HeartbeatReply | CatchUp) -> PeerState | None:
        peer = self._peers.get(msg.src) if self.role is Role.LEADER else None
        if peer is None or msg.ballot != self.ballot:
            self.counters["ignored.not_leader"] += 1
            return None
        return peer

    def _on_accepted(self, msg: Accepted) -> None:
        peer = self._leader_peer(msg)
        if peer is None:
            return
        peer.active = True
        if msg.last <= self.learned:
            return  # answers a catch-up or a retry of slots already chosen
        commander = self._commanders.get(msg.first)
        if commander is not None and commander.last == msg.last:
            self._vote(commander, msg.src)
            return
        for commander in list(self._commanders.values()):
            if msg.first <= commander.first and commander.last <= msg.last:
                self._vote(commander, msg.src)

    def _vote(self, commander: Commander, voter: NodeId) -> None:
        if commander.chosen:
            return
        votes = commander.votes
        votes.add(voter)
        if len(votes) >= self._quorum_size:
            commander.chosen = True
            if commander.first == self.learned + 1:
                self._advance_commit()

    def _advance_commit(self) -> None:
        """Extend the chosen prefix over the leading chosen commanders."""
        commanders = self._commanders
        learned = self.learned
        while commanders:
            first = next(iter(commanders))
            commander = commanders[first]
            if not commander.chosen:
                break
            del commanders[first]
            learned = commander.last
        if learned == self.learned:
            return
        self.learned = learned
        if self._reads_waiting and learned >= self.recovery_end:
            waiting, self._reads_waiting = self._reads_waiting, []
            for rid in waiting:
                self._start_read(rid)

    def _broadcast_decision(self) -> None:
        commit = self.learned
        for peer in self.peers:
            self._send_leader(Decision(self._id, peer, self.ballot, commit))
        self._sent_commit = commit

    def _broadcast_heartbeat(self) -> None:
        commit = self.learned
        for peer in self.peers:
            self._send_leader(Heartbeat(self._id, peer, self.ballot, commit, self._read_round))
        self._sent_commit = commit

    def _on_heartbeat_reply(self, msg: HeartbeatReply) -> None:
        peer = self._leader_peer(msg)
        if peer is None:
            return
        peer.active = True
        if msg.read_round > peer.read_round:
            peer.read_round = msg.read_round
            self._release_reads()

    def _on_catchup(self, msg: CatchUp) -> None:
        peer = self._leader_peer(msg)
        if peer is None:
            return
        first = msg.first_slot
        if first <= self.log.base:
            snapshot = self._snapshot
            assert snapshot is not None  # a compacted log always has a snapshot
            self._send_leader(InstallSnapshot(self._id, msg.src, self.ballot, snapshot))
            self.counters["snapshots.sent"] += 1
            return
        last = min(self.learned, first + self.config.max_entries_per_message - 1)
        if first > last:
            return  # not chosen yet: the commanders will bring those slots
        # Chosen values, proposed again in our ballot so that the learner can
        # tell them apart from what it accepted in other ballots.
        term = self._term
        entries = tuple(
            e if e.term == term else Entry(e.index, term, e.data, e.kind)
            for e in self.log.run(first, last + 1)
        )
        self.counters["catchup.served"] += 1
        self._send_leader(Accept(self._id, msg.src, self.ballot, entries, self.learned))

    def _send_leader(self, message: Message) -> None:
        """Send a message of our ballot as leader. Pipelined, it leaves early -
        it depends on no acceptance of ours - once our promise of the ballot is
        durable: before, a crash could make us forget the ballot and lead it
        again with other values."""
        if self._pipelined and self._durable_promise == self._term:
            self._outbox.send_early(message)
        else:
            self._outbox.send(message)

    # ------------------------------------------------------------------
    # Reads (ReadIndex: the leader confirms with a quorum that it still leads)

    def _new_request(self) -> RequestId:
        rid = self._next_request
        self._next_request += 1
        return rid

    def _start_read(self, rid: RequestId) -> None:
        if self._quorum_size == 1:
            self._outbox.reply(ReadReady(rid, self.learned))
            return
        self._read_round += 1
        self._reads.append((self._read_round, rid, self.learned))
        self._read_broadcast = True

    def _release_reads(self) -> None:
        reads = self._reads
        while reads:
            round_, rid, index = reads[0]
            confirmed = 1 + sum(1 for p in self._peers.values() if p.read_round >= round_)
            if confirmed < self._quorum_size:
                return
            reads.popleft()
            self._outbox.reply(ReadReady(rid, index))

    def _fail_reads(self, error: NotLeader) -> None:
        for _, rid, _ in self._reads:
            self._outbox.reply(RequestFailed(rid, error))
        for rid in self._reads_waiting:
            self._outbox.reply(RequestFailed(rid, error))
        self._reads.clear()
        self._reads_waiting = []
        self._read_broadcast = False

    # ------------------------------------------------------------------
    # Proposals' fate

    def _resolve_proposals(self, committed: Sequence[Entry]) -> None:
        pending = self._pending
        reply = self._outbox.reply
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
}


def _is_index(value: object) -> bool:
    return type(value) is int and value >= 0


def _is_slot(value: object) -> bool:
    return type(value) is int and value >= 1


def _check_entry(entry: object) -> bool:
    return (
        type(entry) is Entry
        and _is_slot(entry.index)
        and _is_index(entry.term)
        and type(entry.data) is bytes
        and type(entry.kind) is EntryKind
    )


def _check_run(entries: object, term: int) -> str | None:
    """An ``Accept``'s entries: consecutive slots, all in the message's ballot."""
    if type(entries) is not tuple or not entries:
        return "malformed"
    first = entries[0]
    if not _check_entry(first):
        return "malformed"
    slot = first.index
    for entry in entries:
        if (
            type(entry) is not Entry
            or type(entry.data) is not bytes
            or type(entry.kind) is not EntryKind
        ):
            return "malformed"
        if entry.index != slot:
            return "bad_index"
        if entry.term != term:
            return "bad_ballot"
        slot += 1
    return None


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
    if type(snapshot) is not Snapshot or type(snapshot.data) is not bytes:
        return "malformed"
    if not (_is_slot(snapshot.index) and _is_index(snapshot.term)):
        return "bad_index"
    if snapshot.term > ballot:
        return "bad_ballot"
    return None


def _load_promised(storage: Storage) -> Ballot:
    value = storage.metadata().get(PROMISED_KEY, 0)
    if not _is_index(value):
        raise StorageCorruption(f"stored promise is {value!r}, not a packed ballot")
    assert isinstance(value, int)
    return Ballot.unpack(value)


def _load_log(storage: Storage, snapshot: Snapshot | None, promised: Ballot) -> SlotLog:
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
