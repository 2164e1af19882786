"""The Multi-Paxos leader: phase 2 for every slot of its ballot, after recovery.

A candidate whose ballot a quorum promised becomes ``Leader``. It first
proposes again, for every slot above its chosen prefix, the value accepted in
the highest ballot any promise reported (a no-op where none did); then it
proposes clients' values. Each batch of slots has a ``Commander`` collecting
``Accepted`` votes; the chosen prefix grows over the leading chosen batches.
Heartbeats keep the followers (and the leader's lease) alive and confirm reads.
"""

from __future__ import annotations

from collections.abc import Iterable

from pyconsensus.core.errors import NotLeader
from pyconsensus.core.ready import Message, ReadReady, RequestFailed
from pyconsensus.core.types import Entry, EntryKind, NodeId, RequestId
from pyconsensus.paxos import messages
from pyconsensus.paxos.ballot import Ballot
from pyconsensus.paxos.host import PaxosHost
from pyconsensus.paxos.proposer import Proposer


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

    __slots__ = ("accepted", "active", "read_round")

    def __init__(self) -> None:
        self.active = False  # answered since the last quorum check
        self.read_round = 0  # highest read round it confirmed
        self.accepted = 0  # highest slot it accepted in our ballot (for operators)


class Leader(Proposer):
    """The proposer of ``ballot`` once a quorum promised it.

    Subclassed by the deliberately broken variants in the tests, through
    ``MultiPaxosNode.leader_class``.
    """

    __slots__ = (
        "commanders",
        "durable_slot",
        "heartbeat_elapsed",
        "now",
        "peers",
        "quorum_elapsed",
        "recovery_end",
        "sent_commit",
        "term",
        "unsent",
    )

    def __init__(self, node: PaxosHost, ballot: Ballot) -> None:
        super().__init__(node, ballot)
        self.term = ballot.packed  # the term of every entry we propose
        self.recovery_end = 0  # last slot recovered in phase 1
        self.commanders: dict[int, Commander] = {}  # by first slot, in slot order
        self.unsent = 0  # first proposed slot not yet sent to acceptors (0: none)
        self.sent_commit = node.learned
        self.peers = {peer: PeerState() for peer in node.peers}
        # Pipelined writes: the highest slot of our ballot reported durable
        # (written in slot order, so all below it too).
        self.durable_slot = 0
        self.now = 0  # ticks, for commander retries
        self.heartbeat_elapsed = 0
        self.quorum_elapsed = 0

    # ------------------------------------------------------------------
    # Taking office: recovery

    def recover(self, promises: Iterable[messages.Promise]) -> None:
        """Propose again, in our ballot, every slot above our chosen prefix that
        a promise (or our own log) reports a value for; fill the gaps with no-ops."""
        node = self.node
        term = self.term
        start = node.learned
        highest: dict[int, Entry] = {e.index: e for e in node.log.entries_from(start + 1)}
        for promise in promises:
            for entry in promise.accepted:
                if entry.index > start:
                    known = highest.get(entry.index)
                    if known is None or entry.term > known.term:
                        highest[entry.index] = entry
        end = max(highest, default=start)
        recovered = [
            self.recovered_entry(slot, highest.get(slot), term)
            for slot in range(start + 1, end + 1)
        ]
        self.recovery_end = end
        if recovered:
            node.log.put(recovered)
            self.outbox.put(recovered)
            self.unsent = start + 1
        self.counters["phase1.won"] += 1
        self._broadcast_heartbeat()

    def recovered_entry(self, slot: int, highest: Entry | None, term: int) -> Entry:
        """The value to propose again for ``slot``: the highest-ballot one
        accepted there, or a no-op to fill the gap."""
        if highest is None:
            return Entry(slot, term, b"", EntryKind.NOOP)
        return Entry(slot, term, highest.data, highest.kind)

    def stop(self, leader: NodeId | None) -> None:
        """We are deposed (``leader`` is who leads now, if known)."""
        self._fail_reads(NotLeader(leader))

    # ------------------------------------------------------------------
    # Proposals and their commanders

    def propose(self, data: bytes) -> int:
        """Append ``data`` to the log in our ballot; its slot."""
        log = self.node.log
        slot = log.base + len(log.slots) + 1
        entry = Entry(slot, self.term, data)
        log.slots.append(entry)
        self.outbox.put_one(entry)
        if not self.unsent:
            self.unsent = slot
        return slot

    def has_output(self) -> bool:
        """Whether ``flush`` has proposals, decisions or read confirmations to send."""
        node = self.node
        return self.unsent != 0 or self.sent_commit < node.learned or node.reads.broadcast_due

    def flush(self) -> None:
        """Send what accumulated since the last ``Ready``."""
        if self.unsent:
            self._launch(self.unsent, self.node.log.last_index)
            self.unsent = 0
        if self.sent_commit < self.node.learned:
            self._broadcast_decision()
        if self.node.reads.take_broadcast():
            self._broadcast_heartbeat()

    def persisted(self, entries: Iterable[Entry]) -> None:
        """Our acceptances up to the highest of ``entries`` in our ballot are
        durable: they now count towards their commanders' quorums."""
        term = self.term
        top = max((e.index for e in entries if e.term == term), default=0)
        if top <= self.durable_slot:
            return
        self.durable_slot = top
        for commander in list(self.commanders.values()):  # in slot order
            if commander.last > top:
                break
            self.vote(commander, self.me)

    def tick(self) -> None:
        config = self.config
        self.now += 1
        self.heartbeat_elapsed += 1
        self.quorum_elapsed += 1
        if config.lease and self.quorum_elapsed >= config.election_ticks:
            self.quorum_elapsed = 0
            if not self._quorum_active():
                self.counters["leader.lost_quorum"] += 1
                self.node.become_follower(None)
                return
        if self.heartbeat_elapsed >= config.heartbeat_ticks:
            self.heartbeat_elapsed = 0
            self._broadcast_heartbeat()
        self._retry_commanders()

    def _quorum_active(self) -> bool:
        active = 1
        for peer in self.peers.values():
            active += peer.active
            peer.active = False
        return active >= self.node.quorum.size

    def _launch(self, first: int, last: int) -> None:
        """Start commanders for slots ``first..last`` and send their ``Accept``s."""
        node = self.node
        step = self.config.max_entries_per_message
        quorum_size = node.quorum.size
        commanders = self.commanders
        log = node.log
        commit = node.learned
        for lo in range(first, last + 1, step):
            hi = min(lo + step - 1, last)
            # The leader accepted its own proposals first; pipelined, that
            # acceptance counts only once durable (``persisted``), or a value
            # could be chosen with a copy that a crash loses.
            counted = not node.pipelined_writes or hi <= self.durable_slot
            commander = Commander(lo, hi, {self.me} if counted else set(), self.now)
            commanders[lo] = commander
            entries = tuple(log.run(lo, hi + 1))
            for peer in node.peers:
                self.send(messages.Accept(self.me, peer, self.ballot, entries, commit))
            if len(commander.votes) >= quorum_size:
                commander.chosen = True
        self.sent_commit = commit
        self._advance_commit()

    def _retry_commanders(self) -> None:
        """Send again the ``Accept``s a commander has not had answered for a while,
        merging neighbouring batches per acceptor."""
        now = self.now
        stale = [
            c
            for c in self.commanders.values()
            if not c.chosen and now - c.sent_at >= self.config.retry_ticks
        ]
        if not stale:
            return
        node = self.node
        self.counters["accept.retried"] += len(stale)
        limit = self.config.max_entries_per_message
        for peer in node.peers:
            runs: list[list[int]] = []  # [first, last] of merged batches
            for c in stale:
                if peer in c.votes:
                    continue
                if runs and runs[-1][1] + 1 == c.first and c.last - runs[-1][0] < limit:
                    runs[-1][1] = c.last
                else:
                    runs.append([c.first, c.last])
            for lo, hi in runs:
                entries = tuple(node.log.run(lo, hi + 1))
                self.send(messages.Accept(self.me, peer, self.ballot, entries, node.learned))
        for c in stale:
            c.sent_at = now

    def _peer(
        self, msg: messages.Accepted | messages.HeartbeatReply | messages.CatchUp
    ) -> PeerState | None:
        """The acceptor behind an answer to our ballot."""
        peer = self.peers.get(msg.src)
        if peer is None or msg.ballot != self.ballot:
            self.counters["ignored.not_leader"] += 1
            return None
        return peer

    def on_accepted(self, msg: messages.Accepted) -> None:
        peer = self._peer(msg)
        if peer is None:
            return
        peer.active = True
        peer.accepted = max(peer.accepted, msg.last)
        if msg.last <= self.node.learned:
            return  # answers a catch-up or a retry of slots already chosen
        commander = self.commanders.get(msg.first)
        if commander is not None and commander.last == msg.last:
            self.vote(commander, msg.src)
            return
        for commander in list(self.commanders.values()):
            if msg.first <= commander.first and commander.last <= msg.last:
                self.vote(commander, msg.src)

    def vote(self, commander: Commander, voter: NodeId) -> None:
        """``voter`` accepted ``commander``'s slots."""
        if commander.chosen:
            return
        votes = commander.votes
        votes.add(voter)
        if len(votes) >= self.node.quorum.size:
            commander.chosen = True
            if commander.first == self.node.learned + 1:
                self._advance_commit()

    def _advance_commit(self) -> None:
        """Extend the chosen prefix over the leading chosen commanders."""
        node = self.node
        commanders = self.commanders
        learned = node.learned
        while commanders:
            first = next(iter(commanders))
            commander = commanders[first]
            if not commander.chosen:
                break
            del commanders[first]
            learned = commander.last
        if learned == node.learned:
            return
        node.learned = learned
        if learned >= self.recovery_end:
            for rid in node.reads.take_deferred():
                self._start_read(rid)

    # ------------------------------------------------------------------
    # What the followers learn from us

    def _broadcast_decision(self) -> None:
        node = self.node
        commit = node.learned
        for peer in node.peers:
            self.send(messages.Decision(self.me, peer, self.ballot, commit))
        self.sent_commit = commit

    def _broadcast_heartbeat(self) -> None:
        node = self.node
        commit = node.learned
        for peer in node.peers:
            self.send(messages.Heartbeat(self.me, peer, self.ballot, commit, node.reads.round))
        self.sent_commit = commit

    def on_catchup(self, msg: messages.CatchUp) -> None:
        if self._peer(msg) is None:
            return
        node = self.node
        first = msg.first_slot
        if first <= node.log.base:
            snapshot = node.snapshot
            assert snapshot is not None  # a compacted log always has a snapshot
            sender = node.sender
            if sender.sending(msg.src) != snapshot and sender.start(msg.src, snapshot):
                self.counters["snapshots.sent"] += 1
            return
        last = min(node.learned, first + self.config.max_entries_per_message - 1)
        if first > last:
            return  # not chosen yet: the commanders will bring those slots
        # Chosen values, proposed again in our ballot so that the learner can
        # tell them apart from what it accepted in other ballots.
        term = self.term
        entries = tuple(
            e if e.term == term else Entry(e.index, term, e.data, e.kind)
            for e in node.log.run(first, last + 1)
        )
        self.counters["catchup.served"] += 1
        self.send(messages.Accept(self.me, msg.src, self.ballot, entries, node.learned))

    def send(self, message: Message) -> None:
        """Send a message of our ballot. Pipelined, it leaves early - it depends
        on no acceptance of ours - once our promise of the ballot is durable:
        before, a crash could make us forget the ballot and lead it again with
        other values."""
        if self.node.pipelined_writes and self.node.durable_promise == self.term:
            self.outbox.send_early(message)
        else:
            self.outbox.send(message)

    # ------------------------------------------------------------------
    # Reads (ReadIndex: a quorum confirms that we still lead). The node's
    # queue numbers the rounds, across leaderships; acceptors echo the round of
    # the heartbeat they answer.

    def read(self, rid: RequestId) -> None:
        if self.node.learned < self.recovery_end:
            # The chosen prefix is only known complete once the slots recovered
            # in phase 1 are chosen again in our ballot.
            self.node.reads.defer(rid)
        else:
            self._start_read(rid)

    def _start_read(self, rid: RequestId) -> None:
        node = self.node
        if node.quorum.size == 1:
            self.outbox.reply(ReadReady(rid, node.learned))
            return
        node.reads.start(rid, node.learned)

    def on_heartbeat_reply(self, msg: messages.HeartbeatReply) -> None:
        peer = self._peer(msg)
        if peer is None:
            return
        peer.active = True
        if msg.read_round > peer.read_round:
            peer.read_round = msg.read_round
            self._release_reads()

    def _release_reads(self) -> None:
        reads = self.node.reads
        confirmed = {node: peer.read_round for node, peer in self.peers.items()}
        confirmed[self.me] = reads.round
        for rid, index in reads.release(self.node.quorum, confirmed):
            self.outbox.reply(ReadReady(rid, index))

    def _fail_reads(self, error: NotLeader) -> None:
        for rid in self.node.reads.drain():
            self.outbox.reply(RequestFailed(rid, error))
