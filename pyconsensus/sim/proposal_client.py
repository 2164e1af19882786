"""Simulated clients that submit proposals the way a real client would."""

from __future__ import annotations

import attrs

from pyconsensus.core.errors import NotLeader, OutcomeUnknown
from pyconsensus.core.ready import ProposalCommitted, Reply, RequestFailed
from pyconsensus.core.types import NodeId
from pyconsensus.sim.checker import InvariantViolation
from pyconsensus.sim.simulation import Simulation


@attrs.frozen(slots=True)
class ClientConfig:
    """Pacing of one client, in virtual milliseconds."""

    think_min_ms: int = 5
    think_max_ms: int = 50
    timeout_ms: int = 500
    retry_ms: int = 20


class ProposalClient:
    """Sends unique proposals one at a time to the node it believes leads.

    It follows ``NotLeader`` hints, gives up on a request after a timeout
    (counting it as indeterminate), and checks every acknowledgement against
    the committed log: an acknowledged proposal must be the committed entry at
    the index the node reported.
    """

    def __init__(self, sim: Simulation, client_id: int, config: ClientConfig | None = None) -> None:
        self.sim = sim
        self.client_id = client_id
        self.config = config if config is not None else ClientConfig()
        self.target: NodeId | None = None
        self.sequence = 0
        self.outstanding: bytes | None = None
        self.acked: dict[bytes, int] = {}
        self.stopped = False
        self._attempt = 0  # bumped when an attempt is settled or superseded

    def start(self) -> None:
        self.sim.call_later(self._think(), self._submit)

    def stop(self) -> None:
        self.stopped = True

    def _think(self) -> int:
        return self.sim.rng.randint(self.config.think_min_ms, self.config.think_max_ms)

    def _submit(self) -> None:
        if self.stopped:
            return
        if self.outstanding is None:
            self.sequence += 1
            self.outstanding = b"client-%d-op-%d" % (self.client_id, self.sequence)
        self._attempt += 1
        attempt = self._attempt
        target = self.target if self.target is not None else self.sim.rng.choice(self.sim.members)
        if not self.sim.propose(target, self.outstanding, lambda r: self._on_reply(attempt, r)):
            self.target = None
            self.sim.call_later(self.config.retry_ms, self._submit)
            return
        if attempt == self._attempt:  # not already answered
            self.sim.call_later(self.config.timeout_ms, lambda: self._on_timeout(attempt))

    def _on_reply(self, attempt: int, reply: Reply) -> None:
        if attempt != self._attempt or self.outstanding is None:
            return
        payload = self.outstanding
        stats = self.sim.stats
        if isinstance(reply, ProposalCommitted):
            entry = self.sim.committed_log.entries.get(reply.index)
            if self.sim.protocol.total_order and (entry is None or entry.data != payload):
                raise InvariantViolation(
                    "Acknowledged Writes",
                    f"client {self.client_id} was told {payload!r} committed at index "
                    f"{reply.index}, but the committed entry there is "
                    f"{entry.data if entry else None!r}",
                )
            self.acked[payload] = reply.index
            stats.proposals_acked += 1
            self.sim.client_succeeded()
            self.outstanding = None
            self._attempt += 1
            self.sim.call_later(self._think(), self._submit)
        elif isinstance(reply, RequestFailed):
            if isinstance(reply.error, OutcomeUnknown):
                # It may still commit: re-submitting could apply it twice.
                self._on_timeout(attempt)
                return
            if isinstance(reply.error, NotLeader):
                self.target = reply.error.leader_hint
            else:
                stats.proposals_failed += 1
                self.target = None
            # Retrying is safe after NotLeader or a definite failure.
            self._attempt += 1
            self.sim.call_later(self.config.retry_ms, self._submit)

    def _on_timeout(self, attempt: int) -> None:
        if attempt != self._attempt:
            return
        self.sim.stats.proposals_unknown += 1
        self.target = None
        # Indeterminate: the proposal may still commit. Move on to a new one
        # rather than re-submit (these clients have no de-duplicating session).
        self.outstanding = None
        self._submit()
