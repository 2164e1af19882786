"""Raft's membership-change rules, checked by the simulator from the outside.

Each check recomputes from the logs what the node should have done, instead of
trusting the node's own bookkeeping:

- Configuration Follows Log: a node's configuration in force is the last
  configuration entry of its log, else the one recorded with its snapshot
  (checked whenever its log changes shape: a configuration entry appended, a
  suffix truncated, a snapshot installed). A truncated configuration entry
  that is not rolled back breaks it.
- Change Rule: a leader appends a configuration entry only after an entry of
  its own term committed (the single-server bug of 2015), only once the
  previous configuration entry committed (one change in flight), and never
  changes two voters at once without a joint configuration.
- Commit Quorum: an entry a leader commits is durably held by a quorum of the
  configuration in force - during a joint configuration, by a majority of the
  old voters and of the new ones.
"""

from __future__ import annotations

from collections.abc import Callable

from pyconsensus.core.membership import Membership
from pyconsensus.core.node import ConsensusNode
from pyconsensus.core.ready import Ready
from pyconsensus.core.types import Entry, EntryKind, NodeId, Role
from pyconsensus.raft.confchange import decode_entry, last_config
from pyconsensus.raft.node import RaftNode
from pyconsensus.sim.checker import ClusterView, InvariantViolation


class RaftMembershipSafety:
    """Checker for the rules above; one instance per simulation run."""

    PROPERTIES = ("Configuration Follows Log", "Change Rule", "Commit Quorum")

    def on_ready(
        self, sim: ClusterView, node_id: NodeId, node: ConsensusNode, ready: Ready
    ) -> None:
        if not isinstance(node, RaftNode):
            return
        write = ready.write
        if write is not None and _reshapes(write.entries, write.truncate_from, write.snapshot):
            self._check_follows_log(node_id, node)
            if node.role is Role.LEADER:
                for entry in write.entries:
                    if entry.kind is EntryKind.CONFIG and entry.term == node.term:
                        self._check_change(node_id, node, entry)
        if ready.committed and node.role is Role.LEADER:
            last = ready.committed[-1]
            if last.term == node.term:
                self._check_quorum(sim, node_id, node, last)

    def on_restart(self, sim: ClusterView, node_id: NodeId, node: ConsensusNode) -> None:
        if isinstance(node, RaftNode):
            self._check_follows_log(node_id, node)

    def after_step(self, sim: ClusterView) -> None:
        pass

    def _check_follows_log(self, node_id: NodeId, node: RaftNode) -> None:
        expected = _config_at(node, node.log.last_index)
        if node.membership != expected:
            raise InvariantViolation(
                "Configuration Follows Log",
                f"node {node_id} is in configuration {node.membership.encode()} but its log "
                f"says {expected.encode()}",
            )

    def _check_change(self, node_id: NodeId, node: RaftNode, entry: Entry) -> None:
        new = decode_entry(entry)
        old = _config_at(node, entry.index - 1)
        own_term = node.log.term_at(node.commit) == node.term
        found = last_config(node.log, entry.index - 1)
        previous_index = found[1] if found is not None else node.log.snapshot_index
        problem = None
        if not own_term:
            problem = "before an entry of its term committed"
        elif previous_index > node.commit:
            problem = f"while the change at index {previous_index} was not committed"
        elif not (old.is_joint or new.is_joint) and len(old.voters ^ new.voters) > 1:
            problem = "changing several voters without a joint configuration"
        if problem is not None:
            raise InvariantViolation(
                "Change Rule",
                f"leader {node_id} of term {node.term} appended configuration "
                f"{new.encode()} at index {entry.index} {problem} (previous: {old.encode()})",
            )

    def _check_quorum(
        self, sim: ClusterView, node_id: NodeId, node: RaftNode, entry: Entry
    ) -> None:
        membership = _config_at(node, node.log.last_index)
        holders = [m for m in sim.members if log_view(sim, m)[1](entry.index, entry.term)]
        if not membership.quorum().is_quorum(holders):
            raise InvariantViolation(
                "Commit Quorum",
                f"leader {node_id} committed index {entry.index} (term {entry.term}) held "
                f"only by {sorted(holders)}, no quorum of {membership.encode()}",
            )


def _reshapes(entries: object, truncate_from: int | None, snapshot: object) -> bool:
    if truncate_from is not None or snapshot is not None:
        return True
    return any(e.kind is EntryKind.CONFIG for e in entries)  # type: ignore[attr-defined]


def _config_at(node: RaftNode, index: int) -> Membership:
    found = last_config(node.log, index)
    return found[0] if found is not None else node.snapshot_membership


def log_view(
    sim: ClusterView, node_id: NodeId
) -> tuple[tuple[int, int], Callable[[int, int], bool]]:
    """``((last_term, last_index), holds(index, term))`` of the log a node would
    have after a crash now: what its storage holds durably. For a node whose
    writes are done (every node, unless it pipelines its writes) that is its
    live log; a write in flight does not count - a crash would lose it."""
    node = sim.nodes[node_id]
    storage = sim.storages[node_id]
    if isinstance(node, RaftNode) and not storage.has_staged():
        log = node.log

        def holds_live(index: int, term: int) -> bool:
            return index <= log.snapshot_index or log.term_at(index) == term

        return (log.last_term, log.last_index), holds_live
    storage = storage.durable()
    snapshot = storage.snapshot()
    floor = snapshot.index if snapshot is not None else 0
    last_index = storage.last_index()
    tail = storage.entries(last_index, last_index + 1)
    last_term = tail[0].term if tail else (snapshot.term if snapshot is not None else 0)

    def holds_stored(index: int, term: int) -> bool:
        stored = storage.entries(index, index + 1)
        return index <= floor or (bool(stored) and stored[0].term == term)

    return (last_term, last_index), holds_stored
