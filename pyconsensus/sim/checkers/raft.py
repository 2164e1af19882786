"""Raft's safety properties (paper, Figure 3), checked incrementally by the simulator.

- Election Safety: at most one leader per term.
- Leader Append-Only: a leader never overwrites or deletes its entries.
- Log Matching: same index and term means same entry and same history before it.
- Leader Completeness: a leader holds every entry committed in earlier terms.
- State Machine Safety: checked for every protocol by ``CommittedLog``.
- Commitment Safety: when an index commits, no node lacking its entry could
  still gather a majority of votes. This is what the commitment rule (5.4.2)
  guarantees; checking it at commit time catches a broken rule the moment it
  acts, long before a random schedule stages the overwrite of Figure 8.

Plus two durability checks: a node's stored term never goes backwards, and a
node never votes for two candidates in one term - even across crashes.

``make_spec``/``SPEC`` attach ``RaftSafety`` to the registered Raft protocol.
"""

from __future__ import annotations

from collections.abc import Callable

from pyconsensus.core.node import ConsensusNode
from pyconsensus.core.ready import Ready, Write
from pyconsensus.core.types import Entry, NodeId, Role
from pyconsensus.protocols import get_protocol
from pyconsensus.raft.config import RaftConfig
from pyconsensus.raft.node import TERM_KEY, VOTE_KEY, RaftNode
from pyconsensus.sim.checker import ClusterView, InvariantViolation
from pyconsensus.sim.checkers.durable import DurableWrites
from pyconsensus.sim.specs import ProtocolSpec, spec_of


class RaftSafety:
    """Checker for the properties above; one instance per simulation run."""

    PROPERTIES = (
        "Election Safety",
        "Leader Append-Only",
        "Log Matching",
        "Leader Completeness",
        "Commitment Safety",
        "Durable Term",
        "Vote Safety",
    )

    def __init__(self) -> None:
        self.leader_of_term: dict[int, NodeId] = {}
        self.checked_leaders: set[tuple[NodeId, int]] = set()
        self.chain: dict[tuple[int, int], tuple[bytes, int, int]] = {}
        self.votes: dict[tuple[NodeId, int], NodeId] = {}
        self.stored_term: dict[NodeId, int] = {}
        self.commit_term: dict[int, int] = {}  # index -> term of the leader that committed it
        self.checked_commit = 0
        # Hard-state writes still in flight (pipelined writes): they count as
        # stored only once durable, since a crash may legitimately lose them.
        self._hard_states = DurableWrites(self._stored_hard_state)

    def on_ready(
        self, sim: ClusterView, node_id: NodeId, node: ConsensusNode, ready: Ready
    ) -> None:
        raft = _raft(node)
        write = ready.write
        if write is not None:
            if raft.role is Role.LEADER and write.truncate_from is not None:
                raise InvariantViolation(
                    "Leader Append-Only",
                    f"leader {node_id} of term {raft.term} deleted entries from "
                    f"index {write.truncate_from}",
                )
            for entry in write.entries:
                self._check_chain(node_id, raft, entry)
            if TERM_KEY in write.metadata:
                self._hard_states.add(sim, node_id, write)
        if ready.committed and raft.role is Role.LEADER:
            commit_term = self.commit_term
            for entry in ready.committed:
                commit_term.setdefault(entry.index, raft.term)
            last = ready.committed[-1]
            if last.index > self.checked_commit:
                self.checked_commit = last.index
                self._check_commitment(sim, last.index, last.term)

    def on_restart(self, sim: ClusterView, node_id: NodeId, node: ConsensusNode) -> None:
        raft = _raft(node)
        stored = self.stored_term.get(node_id, 0)
        if raft.term < stored:
            raise InvariantViolation(
                "Durable Term",
                f"node {node_id} restarted at term {raft.term} after storing term {stored}",
            )

    def after_step(self, sim: ClusterView) -> None:
        if self._hard_states:
            self._hard_states.settle(sim)
        for node_id, node in sim.nodes.items():
            if node is None:
                continue
            raft = _raft(node)
            if raft.role is not Role.LEADER:
                continue
            term = raft.term
            holder = self.leader_of_term.setdefault(term, node_id)
            if holder != node_id:
                raise InvariantViolation(
                    "Election Safety", f"nodes {holder} and {node_id} both lead term {term}"
                )
            if (node_id, term) not in self.checked_leaders:
                self.checked_leaders.add((node_id, term))
                self._check_completeness(sim, node_id, raft)

    def _stored_hard_state(self, sim: ClusterView, node_id: NodeId, write: Write) -> None:
        metadata = write.metadata
        self._check_hard_state(node_id, metadata[TERM_KEY], metadata.get(VOTE_KEY))

    def _check_chain(self, node_id: NodeId, raft: RaftNode, entry: Entry) -> None:
        prev_term = raft.log.term_at(entry.index - 1)
        if prev_term is None:
            raise InvariantViolation(
                "Log Matching", f"node {node_id} wrote entry {entry.index} after a hole"
            )
        seen = (entry.data, int(entry.kind), prev_term)
        known = self.chain.setdefault((entry.index, entry.term), seen)
        if known != seen:
            raise InvariantViolation(
                "Log Matching",
                f"node {node_id} holds a different entry (or history) at index "
                f"{entry.index}, term {entry.term} than another node",
            )

    def _check_hard_state(self, node_id: NodeId, term: object, vote: object) -> None:
        assert isinstance(term, int)
        if term < self.stored_term.get(node_id, 0):
            raise InvariantViolation(
                "Durable Term", f"node {node_id} stored term {term} after a higher one"
            )
        self.stored_term[node_id] = term
        if isinstance(vote, int):
            earlier = self.votes.setdefault((node_id, term), vote)
            if earlier != vote:
                raise InvariantViolation(
                    "Vote Safety",
                    f"node {node_id} voted for {earlier} and then {vote} in term {term}",
                )

    def _check_completeness(self, sim: ClusterView, node_id: NodeId, raft: RaftNode) -> None:
        committed = sim.committed_log.entries
        log = raft.log
        for index in range(log.snapshot_index + 1, sim.committed_log.highest + 1):
            entry = committed.get(index)
            if entry is None or self.commit_term.get(index, raft.term) >= raft.term:
                continue
            if log.term_at(index) != entry.term:
                raise InvariantViolation(
                    "Leader Completeness",
                    f"leader {node_id} of term {raft.term} lacks entry {index} "
                    f"(term {entry.term}), committed in term {self.commit_term[index]}",
                )

    def _check_commitment(self, sim: ClusterView, index: int, term: int) -> None:
        views = {m: _log_view(sim, m) for m in sim.members}
        majority = len(sim.members) // 2 + 1
        for node_id, (last, holds) in views.items():
            if holds(index, term):
                continue
            electors = [m for m, (other_last, _) in views.items() if other_last <= last]
            if len(electors) >= majority:
                raise InvariantViolation(
                    "Commitment Safety",
                    f"index {index} (term {term}) committed although node {node_id}, which "
                    f"lacks it, could still be elected by nodes {sorted(electors)}",
                )


def _log_view(
    sim: ClusterView, node_id: NodeId
) -> tuple[tuple[int, int], Callable[[int, int], bool]]:
    """``((last_term, last_index), holds(index, term))`` of the log a node would
    have after a crash now: what its storage holds durably. For a node whose
    writes are done (every node, unless it pipelines its writes) that is its
    live log; a write in flight does not count - a crash would lose it."""
    node = sim.nodes[node_id]
    storage = sim.storages[node_id]
    if node is not None and not storage.has_staged():
        log = _raft(node).log

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


def _raft(node: ConsensusNode) -> RaftNode:
    if not isinstance(node, RaftNode):
        raise TypeError(f"RaftSafety checks Raft nodes, not {type(node).__name__}")
    return node


def make_spec(
    config: RaftConfig | None = None, node_class: type[RaftNode] = RaftNode
) -> ProtocolSpec:
    """Raft as the simulator runs it, checked by ``RaftSafety``; ``node_class``
    lets tests plug in broken variants."""
    protocol = get_protocol("raft", config, node_class)
    return spec_of(protocol, lambda: (RaftSafety(),), RaftSafety.PROPERTIES)


SPEC = make_spec()
