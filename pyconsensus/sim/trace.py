"""``Trace``: a record of one run for pictures - messages, roles, faults, clients.

Attach it before running; it only watches (an observer and a checker that never
raises), so a traced run is the very same run as an untraced one::

    trace = Trace.attach(sim)
    sim.run_until(2_000)
    html = render_html(trace)        # pyconsensus.sim.diagram
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from pyconsensus.core.node import ConsensusNode
from pyconsensus.core.ready import Message, Ready
from pyconsensus.core.types import NodeId, Role
from pyconsensus.sim.checker import ClusterView
from pyconsensus.sim.faults import Fault
from pyconsensus.sim.history import Operation

if TYPE_CHECKING:
    from pyconsensus.sim.simulation import Simulation

DOWN = "down"


@attrs.define(slots=True)
class MessageRecord:
    """One copy of a message: sent at ``sent_ms``, due at ``arrive_ms``
    (``None`` if lost on sending), ``dropped`` says why it never arrived."""

    message: Message
    sent_ms: int
    arrive_ms: int | None
    dropped: str | None = None


@attrs.frozen(slots=True)
class RoleSpan:
    """``node`` was in ``role`` (or ``"down"``) at ``term`` from ``start_ms``."""

    node: NodeId
    start_ms: int
    role: str
    term: int


@attrs.frozen(slots=True)
class Mark:
    """A violation to highlight: when, what, and the operation involved (if any)."""

    time_ms: int
    title: str
    detail: str
    operation: int | None = None


class Trace:
    """Everything a space-time diagram shows (see the module docstring)."""

    def __init__(self, members: tuple[NodeId, ...]) -> None:
        self.members = members
        self.messages: list[MessageRecord] = []
        self.faults: list[tuple[int, Fault]] = []
        self.roles: list[RoleSpan] = []
        self.operations: list[Operation] = []
        self.violation: Mark | None = None
        self.title = ""
        self.end_ms = 0
        self._current: dict[NodeId, tuple[str, int]] = {}
        self._in_flight: dict[tuple[int, int], MessageRecord] = {}

    @classmethod
    def attach(cls, sim: Simulation) -> Trace:
        """Start recording ``sim`` (call before running it)."""
        trace = cls(sim.members)
        trace.title = f"{sim.protocol.name}, seed {sim.seed}"
        sim.observe(trace.on_event)
        sim.checkers.append(trace)
        trace.after_step(sim)
        return trace

    # -- observer ----------------------------------------------------------

    def on_event(self, sim: Simulation, kind: str, details: dict[str, Any]) -> None:
        now = sim.now
        self.end_ms = max(self.end_ms, now)
        if kind == "send":
            message = details["message"]
            for at in details["arrivals"]:
                copy = MessageRecord(message, now, at)
                self.messages.append(copy)
                self._in_flight[(id(message), at)] = copy
        elif kind == "deliver":
            self._in_flight.pop((id(details["message"]), now), None)
        elif kind == "drop":
            message = details["message"]
            key = (id(message), now)
            record = self._in_flight.get(key)
            if record is None:  # lost when sent
                self.messages.append(MessageRecord(message, now, None, details["reason"]))
            else:
                del self._in_flight[key]
                record.dropped = details["reason"]
        elif kind == "fault":
            self.faults.append((now, details["fault"]))

    # -- checker (never raises) -----------------------------------------------

    def on_ready(
        self, sim: ClusterView, node_id: NodeId, node: ConsensusNode, ready: Ready
    ) -> None:
        pass

    def on_restart(self, sim: ClusterView, node_id: NodeId, node: ConsensusNode) -> None:
        pass

    def after_step(self, sim: ClusterView) -> None:
        now = sim.now
        self.end_ms = max(self.end_ms, now)
        current = self._current
        for node_id, node in sim.nodes.items():
            if node is None:
                state = (DOWN, current.get(node_id, (DOWN, 0))[1])
            else:
                status = node.status()
                state = (_role_name(status.role), status.term)
            if current.get(node_id) != state:
                current[node_id] = state
                self.roles.append(RoleSpan(node_id, now, state[0], state[1]))

    # -- results -------------------------------------------------------------

    def mark(self, time_ms: int, title: str, detail: str, operation: int | None = None) -> None:
        """Highlight a violation."""
        self.violation = Mark(time_ms, title, detail, operation)


def _role_name(role: Role) -> str:
    return role.value
