"""Simulated clients of a replicated state machine, as real clients behave.

A ``SessionClient`` runs one operation at a time. It sends it to the node it
believes leads, follows ``NotLeader`` hints, retries after failures and
timeouts with the *same* session sequence number (so a retried command takes
effect at most once), and gives up after ``op_timeout_ms``. Every invocation and
completion goes into the shared ``History``:

- ``ok``: some attempt completed, with the state machine's answer;
- ``fail``: every attempt definitely failed (or it was a read that never succeeded);
- ``info``: some attempt may have taken effect (timeout, crash, ``OutcomeUnknown``)
  and none was confirmed - indeterminate.
"""

from __future__ import annotations

import attrs

from pyconsensus.core.errors import NotLeader
from pyconsensus.core.types import NodeId
from pyconsensus.rsm.envelope import SessionCommand
from pyconsensus.rsm.replicated import Completed, Failed, Outcome
from pyconsensus.rsm.sessions import ClientSession
from pyconsensus.sim.history import FAIL, INFO, OK, History
from pyconsensus.sim.simulation import Simulation
from pyconsensus.sim.workloads import Invocation, Workload


@attrs.frozen(slots=True)
class SessionClientConfig:
    """Pacing of one client, in virtual milliseconds."""

    think_min_ms: int = 5
    think_max_ms: int = 50
    attempt_timeout_ms: int = 250
    """How long one attempt may take before the client tries another node."""
    op_timeout_ms: int = 1_500
    """How long the client keeps retrying one operation before giving up."""
    retry_ms: int = 20


class SessionClient:
    """One client with its own session (see the module docstring)."""

    def __init__(
        self,
        sim: Simulation,
        client_id: int,
        workload: Workload,
        history: History,
        config: SessionClientConfig | None = None,
    ) -> None:
        self.sim = sim
        self.client_id = client_id
        self.workload = workload
        self.history = history
        self.config = config if config is not None else SessionClientConfig()
        self.session = ClientSession(client_id)
        self.target: NodeId | None = None
        self.stopped = False
        self.count = 0
        self.completed: list[Completed] = []
        self._op: int | None = None  # history id of the operation in flight
        self._abandoned: list[int] = []  # indeterminate commands not yet known to be over
        self._invocation: Invocation | None = None
        self._command: SessionCommand | None = None
        self._attempt = 0
        self._maybe_applied = False
        self._deadline = 0

    def start(self) -> None:
        self.sim.call_later(self._think(), self._begin)

    def stop(self) -> None:
        """Start nothing new; an operation in flight may still complete."""
        self.stopped = True

    @property
    def busy(self) -> bool:
        return self._op is not None

    def _think(self) -> int:
        return self.sim.rng.randint(self.config.think_min_ms, self.config.think_max_ms)

    def _begin(self) -> None:
        if self.stopped or self._op is not None:
            return
        self.count += 1
        invocation = self.workload.next(self.sim.rng, self.client_id, self.count)
        self._invocation = invocation
        self._op = self.history.invoke(
            self.client_id, invocation.f, invocation.key, invocation.input, self.sim.now
        )
        self._command = None if invocation.read else self.session.next(invocation.payload)
        self._maybe_applied = False
        self._deadline = self.sim.now + self.config.op_timeout_ms
        self._send()

    def _send(self) -> None:
        if self._op is None:
            return
        if self.sim.now >= self._deadline:
            self._give_up()
            return
        self._attempt += 1
        attempt = self._attempt
        sim = self.sim
        target = self.target if self.target is not None else sim.rng.choice(sim.members)
        self.history.note_node(self._op, target)

        op = self._op

        def on_outcome(outcome: Outcome) -> None:
            if op == self._op:  # not a late answer to an operation already settled
                self._on_outcome(attempt, target, outcome)

        invocation = self._invocation
        assert invocation is not None
        if self._command is None:
            sent = sim.query(target, invocation.payload, on_outcome)
        else:
            sent = sim.submit(target, self.session.envelope(self._command), on_outcome)
        if not sent:  # connection refused: the node is down, nothing was sent
            self.target = None
            sim.call_later(self.config.retry_ms, self._send)
        elif attempt == self._attempt and self._op is not None:
            sim.call_later(self.config.attempt_timeout_ms, lambda: self._on_timeout(attempt))

    def _on_outcome(self, attempt: int, node: NodeId, outcome: Outcome) -> None:
        if self._op is None:
            return
        if isinstance(outcome, Completed):
            # Any attempt of this operation will do: they share one sequence number.
            self._finish(OK, outcome, node)
            return
        if attempt != self._attempt:
            if not isinstance(outcome, Failed):
                self._maybe_applied = True
            return
        self._attempt += 1  # this attempt is settled; its timeout is moot
        if isinstance(outcome, Failed):
            error = outcome.error
            self.target = error.leader_hint if isinstance(error, NotLeader) else None
            delay = 0 if self.target is not None else self.config.retry_ms
        else:
            self._maybe_applied = True
            self.target = None
            delay = self.config.retry_ms
        self.sim.call_later(delay, self._send)

    def _on_timeout(self, attempt: int) -> None:
        if attempt != self._attempt or self._op is None:
            return
        if self._command is not None:
            self._maybe_applied = True
        self.target = None
        self._send()

    def _give_up(self) -> None:
        status = INFO if self._maybe_applied and self._command is not None else FAIL
        self._finish(status, None, None)

    def _finish(self, status: str, outcome: Completed | None, node: NodeId | None) -> None:
        op = self._op
        invocation = self._invocation
        assert op is not None and invocation is not None
        output = None
        if outcome is not None:
            output = self.workload.output(invocation, outcome.result)
            self.completed.append(outcome)
            self.workload.observe(self.client_id, invocation, output)
            self.sim.client_succeeded()
        index = outcome.index if outcome is not None else None
        self.history.complete(op, status, output, self.sim.now, node, index=index)
        if self._command is not None:
            self.session.settle(self._command.seq)
            if status == INFO:
                self._abandoned.append(op)
            elif status == OK and self._abandoned:
                # This command was applied, and it told the session that the
                # client had moved on: no copy of an abandoned one applies now.
                for abandoned in self._abandoned:
                    self.history.bound(abandoned)
                self._abandoned = []
        self._op = None
        self._invocation = None
        self._command = None
        self._attempt += 1
        self.sim.call_later(self._think(), self._begin)
