"""``ReplicatedStateMachine``: exactly-once commands, outcomes, reads and snapshots.

The first tests run it beside real Raft nodes in a hand-driven cluster; the
last ones feed it hand-made batches to pin down how each reply maps to an outcome.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import pytest

from pyconsensus.core.errors import NotLeader, OutcomeUnknown, ProposalDropped
from pyconsensus.core.ready import ProposalCommitted, ReadReady, Ready, RequestFailed
from pyconsensus.core.snapshot_store import MemorySnapshotStore
from pyconsensus.core.snapshots import SnapshotMeta, SnapshotStage, read_all, write_snapshot
from pyconsensus.core.types import Entry, EntryKind, NodeId, RequestId, Role, Status
from pyconsensus.raft import RaftNode
from pyconsensus.rsm import (
    Completed,
    Failed,
    Indeterminate,
    KVStateMachine,
    MalformedCommand,
    Outcome,
    ReplicatedStateMachine,
    SessionCommand,
    StaleRequest,
    kv,
)
from pyconsensus.sim.harness import Harness
from tests.raft.support import cluster


class Replicas:
    """A ``ReplicatedStateMachine`` of a key-value store beside every node of a harness."""

    def __init__(self, harness: Harness[RaftNode], compact_every: int = 0) -> None:
        self.harness = harness
        self.compact_every = compact_every
        self.rsms: dict[NodeId, ReplicatedStateMachine] = {}
        self.outcomes: dict[NodeId, list[Outcome]] = {m: [] for m in harness.members}
        for member in harness.members:
            self._fresh(member)
        harness.listeners.append(self._on_ready)

    def _fresh(self, node_id: NodeId) -> ReplicatedStateMachine:
        rsm = ReplicatedStateMachine(
            self.harness.nodes[node_id],
            KVStateMachine(),
            snapshots=self.harness.storages[node_id].snapshots,
            compact_every=self.compact_every,
        )
        self.rsms[node_id] = rsm
        return rsm

    def _on_ready(self, node_id: NodeId, ready: Ready) -> None:
        rsm = self.rsms.get(node_id)
        if rsm is None or rsm.node is not self.harness.nodes[node_id]:
            rsm = self._fresh(node_id)  # the node restarted: its state machine starts empty
        self.outcomes[node_id].extend(rsm.handle(ready))

    def submit(self, node_id: NodeId, command: SessionCommand) -> RequestId:
        rid = self.rsms[node_id].submit(command)
        self.harness.flush(node_id)
        return rid

    def query(self, node_id: NodeId, key: bytes) -> RequestId:
        rid = self.rsms[node_id].query(kv.get(key))
        self.harness.flush(node_id)
        return rid

    def outcome(self, node_id: NodeId, rid: RequestId) -> Outcome | None:
        found = [o for o in self.outcomes[node_id] if o.request_id == rid]
        assert len(found) <= 1, "a request ended twice"
        return found[0] if found else None

    def settle(self) -> None:
        """Let the leader tell every follower the commit index."""
        self.harness.stabilize()
        self.harness.tick(1)
        self.harness.stabilize()


def kv_cluster(compact_every: int = 0) -> Replicas:
    """Three Raft nodes with a key-value store each; node 1 leads."""
    harness = cluster(3)
    replicas = Replicas(harness, compact_every)
    harness.elect(1)
    replicas.settle()
    return replicas


def test_a_committed_command_returns_the_state_machine_answer() -> None:
    replicas = kv_cluster()
    rid = replicas.submit(1, SessionCommand(7, 1, kv.cas(b"x", None, b"1")))
    replicas.settle()
    outcome = replicas.outcome(1, rid)
    assert isinstance(outcome, Completed)
    assert kv.decode_cas(outcome.result) is True
    for rsm in replicas.rsms.values():
        assert isinstance(rsm.machine, KVStateMachine)
        assert rsm.machine.data == {b"x": b"1"}


def test_a_retried_command_takes_effect_once_and_both_copies_get_its_answer() -> None:
    """Section 6.3 of Ongaro's thesis: the session remembers the answer to
    (client, seq), so a retry that also commits is not applied again."""
    replicas = kv_cluster()
    command = SessionCommand(7, 1, kv.append(b"x", b"a"))
    first = replicas.submit(1, command)
    second = replicas.submit(1, command)  # the client timed out and retried
    replicas.settle()
    one, two = replicas.outcome(1, first), replicas.outcome(1, second)
    assert isinstance(one, Completed) and isinstance(two, Completed)
    assert one.result == two.result == kv.OK
    assert one.index == two.index  # both name where it took effect...
    for rsm in replicas.rsms.values():
        assert isinstance(rsm.machine, KVStateMachine)
        assert rsm.machine.data == {b"x": b"a"}  # ...applied once
        assert rsm.counters["commands.duplicate"] == 1  # though both copies are in the log


def test_a_command_at_a_follower_fails_with_a_hint() -> None:
    replicas = kv_cluster()
    rid = replicas.submit(2, SessionCommand(7, 1, kv.put(b"x", b"1")))
    assert replicas.outcome(2, rid) == Failed(rid, NotLeader(1))


def test_a_read_is_answered_once_the_state_machine_caught_up() -> None:
    replicas = kv_cluster()
    replicas.submit(1, SessionCommand(7, 1, kv.put(b"x", b"1")))
    rid = replicas.query(1, b"x")
    assert replicas.outcome(1, rid) is None  # the leader first confirms it still leads
    replicas.settle()
    outcome = replicas.outcome(1, rid)
    assert isinstance(outcome, Completed)
    assert kv.decode_get(outcome.result) == b"1"


def test_a_late_copy_of_an_abandoned_command_is_not_applied() -> None:
    """A client gave up on seq 2 and moved on (first_unacked 3); a copy of seq 2
    committing afterwards must not take effect."""
    replicas = kv_cluster()
    replicas.submit(1, SessionCommand(7, 1, kv.put(b"x", b"1")))
    replicas.submit(1, SessionCommand(7, 3, kv.put(b"x", b"3"), first_unacked=3))
    replicas.settle()
    late = replicas.submit(1, SessionCommand(7, 2, kv.put(b"x", b"2"), first_unacked=2))
    replicas.settle()
    assert replicas.outcome(1, late) == Indeterminate(late, StaleRequest(7, 2))
    rsm = replicas.rsms[1]
    assert isinstance(rsm.machine, KVStateMachine)
    assert rsm.machine.data == {b"x": b"3"}


def test_sessions_travel_in_snapshots_to_a_restarted_node() -> None:
    """The session table is part of the snapshot: a node restarted from its
    snapshot still recognises a copy of a command applied before it."""
    replicas = kv_cluster(compact_every=2)
    harness = replicas.harness
    command = SessionCommand(7, 1, kv.append(b"x", b"a"))
    replicas.submit(1, command)
    replicas.submit(1, SessionCommand(8, 1, kv.put(b"y", b"1")))
    replicas.settle()
    assert replicas.rsms[3].counters["snapshots.taken"] >= 1
    harness.crash(3)
    harness.restart(3)
    restored = replicas.rsms[3]
    assert restored.counters["snapshots.restored"] == 1
    rid = replicas.submit(1, command)  # a late retry of the first command
    replicas.settle()
    assert isinstance(replicas.outcome(1, rid), Completed)
    assert restored.counters["commands.duplicate"] == 1
    assert isinstance(restored.machine, KVStateMachine)
    assert restored.machine.data == {b"x": b"a", b"y": b"1"}


# -- hand-made batches -------------------------------------------------------


class FakeNode:
    """Just enough of a ``ConsensusNode`` to hand-feed batches."""

    def __init__(self, commit: int = 0) -> None:
        self.next_rid = 1
        self.proposed: list[bytes] = []
        self.compacted: list[tuple[int, SnapshotMeta]] = []
        self.installed: list[SnapshotMeta] = []
        self.rejected: list[tuple[SnapshotMeta, str]] = []
        self.commit = commit
        self.counters: Mapping[str, int] = Counter()

    @property
    def id(self) -> NodeId:
        return 1

    def _rid(self) -> RequestId:
        self.next_rid += 1
        return self.next_rid - 1

    def tick(self) -> None:
        pass

    def receive(self, message: object) -> None:
        pass

    def propose(self, data: bytes) -> RequestId:
        self.proposed.append(data)
        return self._rid()

    def read(self) -> RequestId:
        return self._rid()

    def compact(self, index: int, meta: SnapshotMeta) -> None:
        self.compacted.append((index, meta))

    def snapshot_installed(self, meta: SnapshotMeta) -> None:
        self.installed.append(meta)

    def snapshot_rejected(self, meta: SnapshotMeta, reason: str) -> None:
        self.rejected.append((meta, reason))

    def has_ready(self) -> bool:
        return False

    def ready(self) -> Ready:
        return Ready()

    def status(self) -> Status:
        return Status(1, Role.LEADER, 1, 1, self.commit, self.commit, self.commit)


def entry(index: int, command: SessionCommand | None = None) -> Entry:
    if command is None:
        return Entry(index, 1, b"", EntryKind.NOOP)
    return Entry(index, 1, command.encode())


def test_a_commit_reply_ahead_of_its_entry_waits_for_it() -> None:
    node = FakeNode()
    rsm = ReplicatedStateMachine(node, KVStateMachine())
    command = SessionCommand(1, 1, kv.put(b"x", b"1"))
    rid = rsm.submit(command)
    assert rsm.handle(Ready(replies=(ProposalCommitted(rid, 2),))) == []
    assert rsm.handle(Ready(committed=(entry(1), entry(2, command)))) == [Completed(rid, kv.OK, 2)]


def test_a_commit_reply_for_a_command_never_applied_is_a_broken_contract() -> None:
    rsm = ReplicatedStateMachine(FakeNode(), KVStateMachine())
    rid = rsm.submit(SessionCommand(1, 1, kv.put(b"x", b"1")))
    other = SessionCommand(2, 1, kv.put(b"x", b"2"))
    outcomes = rsm.handle(Ready(committed=(entry(1, other),), replies=(ProposalCommitted(rid, 1),)))
    assert outcomes == [Indeterminate(rid, OutcomeUnknown(1))]
    assert rsm.counters["replies.not_applied"] == 1


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (NotLeader(3), Failed),
        (ProposalDropped(4), Failed),
        (OutcomeUnknown(4), Indeterminate),
    ],
)
def test_failures_map_to_definite_or_indeterminate_outcomes(
    error: NotLeader | ProposalDropped | OutcomeUnknown, kind: type
) -> None:
    rsm = ReplicatedStateMachine(FakeNode(), KVStateMachine())
    rid = rsm.submit(SessionCommand(1, 1, kv.put(b"x", b"1")))
    (outcome,) = rsm.handle(Ready(replies=(RequestFailed(rid, error),)))
    assert isinstance(outcome, kind)
    assert rsm.pending() == 0


def test_a_failed_read_is_definite_even_if_the_node_is_unsure() -> None:
    rsm = ReplicatedStateMachine(FakeNode(), KVStateMachine())
    rid = rsm.query(kv.get(b"x"))
    (outcome,) = rsm.handle(Ready(replies=(RequestFailed(rid, OutcomeUnknown(1)),)))
    assert isinstance(outcome, Failed)


def test_a_read_waits_for_its_index_then_sees_the_state_there() -> None:
    rsm = ReplicatedStateMachine(FakeNode(), KVStateMachine())
    rid = rsm.query(kv.get(b"x"))
    assert rsm.handle(Ready(replies=(ReadReady(rid, 1),))) == []
    command = SessionCommand(1, 1, kv.put(b"x", b"1"))
    (outcome,) = rsm.handle(Ready(committed=(entry(1, command),)))
    assert outcome == Completed(rid, b"\x01" + b"1", 1)


def test_replies_to_requests_of_others_are_ignored() -> None:
    rsm = ReplicatedStateMachine(FakeNode(), KVStateMachine())
    assert rsm.handle(Ready(replies=(ProposalCommitted(99, 1), ReadReady(98, 0)))) == []


def test_entries_that_are_not_session_commands_are_skipped_and_counted() -> None:
    rsm = ReplicatedStateMachine(FakeNode(), KVStateMachine())
    rsm.handle(Ready(committed=(Entry(1, 1, b"raw bytes"), entry(2))))
    assert rsm.applied == 2
    assert rsm.counters["entries.malformed"] == 1


def test_snapshots_are_taken_every_compact_every_entries() -> None:
    node = FakeNode()
    rsm = ReplicatedStateMachine(node, KVStateMachine(), compact_every=3)
    command = SessionCommand(1, 1, kv.put(b"x", b"1"))
    rsm.handle(Ready(committed=(entry(1), entry(2, command))))
    assert node.compacted == []
    rsm.handle(Ready(committed=(entry(3),)))
    ((index, meta),) = node.compacted
    assert index == 3
    data = read_all(rsm.snapshots.open(meta))
    copy = restored_from(data, 3)
    assert copy.applied == 3
    assert copy.sessions.answer(1, 1) == kv.OK
    assert isinstance(copy.machine, KVStateMachine)
    assert copy.machine.data == {b"x": b"1"}


def restored_from(data: bytes, index: int, node: FakeNode | None = None) -> ReplicatedStateMachine:
    """A fresh replica told to restore ``data`` as the snapshot at ``index``."""
    store = MemorySnapshotStore()
    meta = write_snapshot(store, index, 1, data)
    copy = ReplicatedStateMachine(node or FakeNode(), KVStateMachine(), snapshots=store)
    copy.handle(Ready(restore=meta))
    return copy


def test_a_snapshot_that_is_not_ours_is_refused() -> None:
    with pytest.raises(MalformedCommand):
        restored_from(b"garbage", 3)


def test_a_received_snapshot_that_fails_its_checksum_is_rejected_not_restored() -> None:
    store = MemorySnapshotStore()
    good = write_snapshot(MemorySnapshotStore(), 3, 1, b"the real state")
    store.apply([SnapshotStage(good, 0, b"the fake state")])
    store.sync()
    node = FakeNode()
    rsm = ReplicatedStateMachine(node, KVStateMachine(), snapshots=store)
    rsm.handle(Ready(restore=good))
    assert node.installed == [] and [m for m, _ in node.rejected] == [good]
    assert rsm.applied == 0 and rsm.counters["snapshots.rejected"] == 1


def test_bad_session_coordinates_are_refused_before_proposing() -> None:
    node = FakeNode()
    rsm = ReplicatedStateMachine(node, KVStateMachine())
    with pytest.raises(ValueError):
        rsm.submit(SessionCommand(1, 0, b"x"))
    assert node.proposed == []
