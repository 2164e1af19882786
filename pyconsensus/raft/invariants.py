"""Raft's safety properties (paper, Figure 3), checked incrementally by the simulator.

- Election Safety: at most one leader per term.
- Leader Append-Only: a leader never overwrites or deletes its entries.
- Log Matching: same index and term means same entry and same history before it.
- Leader Completeness: a leader holds every entry committed in earlier terms.
- State Machine Safety: checked for every protocol by ``CommittedLog``.

Plus two durability checks: a node's stored term never goes backwards, and a
node never votes for two candidates in one term - even across crashes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyconsensus.core.node import ConsensusNode
from pyconsensus.core.ready import Ready
from pyconsensus.core.types import Entry, NodeId, Role
from pyconsensus.raft.node import TERM_KEY, VOTE_KEY, RaftNode
from pyconsensus.sim.checker import InvariantViolation

if TYPE_CHECKING:
    from pyconsensus.sim.simulation import Simulation


class RaftSafety:
    """Checker for the properties above; one instance per simulation run."""

    PROPERTIES = (
        "Election Safety",
        "Leader Append-Only",
        "Log Matching",
        "Leader Completeness",
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

    def on_ready(self, sim: Simulation, node_id: NodeId, node: ConsensusNode, ready: Ready) -> None:
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
                self._check_hard_state(
                    node_id, write.metadata[TERM_KEY], write.metadata.get(VOTE_KEY)
                )
        if ready.committed and raft.role is Role.LEADER:
            commit_term = self.commit_term
            for entry in ready.committed:
                commit_term.setdefault(entry.index, raft.term)

    def on_restart(self, sim: Simulation, node_id: NodeId, node: ConsensusNode) -> None:
        raft = _raft(node)
        stored = self.stored_term.get(node_id, 0)
        if raft.term < stored:
            raise InvariantViolation(
                "Durable Term",
                f"node {node_id} restarted at term {raft.term} after storing term {stored}",
            )

    def after_step(self, sim: Simulation) -> None:
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

    def _check_completeness(self, sim: Simulation, node_id: NodeId, raft: RaftNode) -> None:
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


def _raft(node: ConsensusNode) -> RaftNode:
    if not isinstance(node, RaftNode):
        raise TypeError(f"RaftSafety checks Raft nodes, not {type(node).__name__}")
    return node
