"""``Simulation``: N nodes of any protocol in one process, on virtual time, from one seed.

Everything that happens is an event on one priority queue - a node's tick, a
message arriving, a fault, a client's action - ordered by virtual time and
then by insertion. All randomness comes from generators seeded by the run's
seed, so a seed reproduces a run exactly.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from random import Random
from typing import Any

import attrs

from pyconsensus.core.errors import ConfigError
from pyconsensus.core.membership import membership_at
from pyconsensus.core.node import ConsensusNode, PipelinedNode, pipelined
from pyconsensus.core.ready import Message, Ready, Reply, Write
from pyconsensus.core.snapshots import write_snapshot
from pyconsensus.core.storage import MemoryStorage
from pyconsensus.core.types import NodeId, RequestId, Role
from pyconsensus.rsm.envelope import SessionCommand
from pyconsensus.rsm.errors import ApplyError
from pyconsensus.rsm.replicated import Failed, Outcome, ReplicatedStateMachine
from pyconsensus.sim.checker import Checker, CommittedLog, InvariantViolation, encode_snapshot
from pyconsensus.sim.faults import (
    Bridge,
    ChangeMembership,
    ClockJump,
    Crash,
    CrashLeader,
    CrashMidWrite,
    Fault,
    Heal,
    IsolateLeader,
    OneWay,
    Partition,
    Restart,
    RestartAll,
    Scheduled,
    SetNetwork,
    Skew,
)
from pyconsensus.sim.membership import change_membership
from pyconsensus.sim.network import Network, NetworkConfig
from pyconsensus.sim.snapshots import SnapshotIntegrity, corrupt_chunk
from pyconsensus.sim.specs import ProtocolSpec

_TICK, _DELIVER, _FAULT, _CALL = range(4)

ReplyHandler = Callable[[Reply], None]
OutcomeHandler = Callable[[Outcome], None]
AppFactory = Callable[[ConsensusNode], ReplicatedStateMachine]
Observer = Callable[["Simulation", str, dict[str, Any]], None]
"""Receives ``(sim, kind, details)`` for every notable event (see ``Simulation.observe``)."""


@attrs.frozen(slots=True)
class SimConfig:
    """Shape of a simulated cluster."""

    nodes: int = 3
    tick_ms: int = 10
    network: NetworkConfig = attrs.field(factory=NetworkConfig)
    compact_every: int = 0
    """Snapshot and compact a node's log each time it applies this many
    entries (0: never), so that snapshot transfer gets exercised too."""

    def __attrs_post_init__(self) -> None:
        if self.nodes < 1:
            raise ConfigError(f"a cluster needs at least one node, got {self.nodes}")
        if self.tick_ms < 1:
            raise ConfigError(f"tick_ms must be positive, got {self.tick_ms}")


@attrs.define
class SimStats:
    """What happened during a run - evidence that the faults actually bit."""

    steps: int = 0
    messages_sent: int = 0
    messages_delivered: int = 0
    dropped_partition: int = 0
    dropped_loss: int = 0
    dropped_crashed: int = 0
    duplicated: int = 0
    writes: int = 0
    crashes: int = 0
    lost_writes: int = 0
    snapshots_rejected: int = 0
    restarts: int = 0
    partitions: int = 0
    network_storms: int = 0
    elections: int = 0
    leader_changes: int = 0
    committed: int = 0
    proposals_acked: int = 0
    proposals_failed: int = 0
    proposals_unknown: int = 0
    longest_leaderless_ms: int = 0
    clock_jumps: int = 0
    ops_ok: int = 0
    ops_failed: int = 0
    ops_indeterminate: int = 0
    longest_unavailable_ms: int = 0
    """Longest stretch of the client phase with clients at work and no
    operation of any client succeeding (see ``Simulation.client_succeeded``)."""

    def add(self, other: SimStats) -> None:
        """Sum counts; ``longest_*`` fields take the maximum."""
        for field in attrs.fields(SimStats):
            name = field.name
            if name.startswith("longest_"):
                setattr(self, name, max(getattr(self, name), getattr(other, name)))
            else:
                setattr(self, name, getattr(self, name) + getattr(other, name))


class Simulation:
    """A deterministic cluster of ``config.nodes`` nodes of ``protocol``.

    Node ids are ``1..nodes``. Drive it with ``run_until``/``run_for``; inject
    faults through ``schedule`` (or ``apply_fault``); talk to it as a client
    with ``propose``/``read``. Checkers run after every step and stop the run
    by raising ``InvariantViolation``.

    With ``app``, every node incarnation gets a ``ReplicatedStateMachine``
    (``apps[node]``) built by ``app(node)``; clients then talk to it with
    ``submit``/``query``, and it takes the snapshots (``config.compact_every``).
    """

    def __init__(
        self,
        protocol: ProtocolSpec,
        seed: int,
        config: SimConfig | None = None,
        schedule: Iterable[Scheduled] = (),
        checkers: Sequence[Checker] = (),
        *,
        app: AppFactory | None = None,
    ) -> None:
        self.protocol = protocol
        self.seed = seed
        self.config = config if config is not None else SimConfig()
        self.members: tuple[NodeId, ...] = tuple(range(1, self.config.nodes + 1))
        self.rng = Random(f"{seed}:sim")
        self.network = Network(self.config.network, Random(f"{seed}:network"))
        self.storages: dict[NodeId, MemoryStorage] = {m: MemoryStorage() for m in self.members}
        self.nodes: dict[NodeId, ConsensusNode | None] = dict.fromkeys(self.members)
        self.incarnation: dict[NodeId, int] = dict.fromkeys(self.members, 0)
        self.skew: dict[NodeId, int] = dict.fromkeys(self.members, 100)
        self.now = 0
        self.stats = SimStats()
        self.committed_log = CommittedLog(opaque_snapshots=app is not None)
        self.app_factory = app
        self.apps: dict[NodeId, ReplicatedStateMachine | None] = dict.fromkeys(self.members)
        self.checkers: list[Checker] = [*protocol.checkers(), *checkers]
        if protocol.total_order:
            self.checkers.insert(0, self.committed_log)
        self._queue: list[tuple[int, int, int, Any, Any]] = []
        self._seq = itertools.count()
        self._handlers: dict[tuple[NodeId, int, RequestId], ReplyHandler] = {}
        self._outcome_handlers: dict[tuple[NodeId, int, RequestId], OutcomeHandler] = {}
        self._last_success = 0
        self._availability_open = True
        self._crash_on_write: set[NodeId] = set()
        self._compacted: dict[NodeId, int] = {}
        self._observers: list[Observer] = []
        self._leaders: set[tuple[NodeId, int]] = set()
        self._last_leader: NodeId | None = None
        self._leaderless_since: int | None = 0
        # Pipelined writes (PipelinedNode): each node's writes in flight, in
        # order, with the messages that wait for them; a write takes a random
        # disk delay, during which the node goes on.
        self._inflight: dict[NodeId, deque[tuple[Write | None, Sequence[Message]]]] = {}
        self._disk_rng = Random(f"{seed}:disk")
        self._corrupt_rng = Random(f"{seed}:corrupt")
        self.snapshot_integrity = SnapshotIntegrity()
        for member in self.members:
            self._start(member)
        for item in schedule:
            self._push(item.at_ms, _FAULT, item.fault, None)

    # ------------------------------------------------------------------
    # Running

    def step(self) -> bool:
        """Process the next event; False when nothing is left to do."""
        if not self._queue:
            return False
        at, _, kind, a, b = heapq.heappop(self._queue)
        self.now = at
        self.stats.steps += 1
        if kind == _TICK:
            self._on_tick(a, b)
        elif kind == _DELIVER:
            self._on_deliver(a)
        elif kind == _FAULT:
            self.apply_fault(a)
        else:
            a()
        self._watch_leaders()
        for checker in self.checkers:
            checker.after_step(self)
        return True

    def run_until(self, time_ms: int) -> None:
        """Process every event up to virtual time ``time_ms``."""
        queue = self._queue
        while queue and queue[0][0] <= time_ms:
            self.step()
        self.now = max(self.now, time_ms)

    def run_for(self, duration_ms: int) -> None:
        self.run_until(self.now + duration_ms)

    def call_later(self, delay_ms: int, fn: Callable[[], None]) -> None:
        """Run ``fn`` after ``delay_ms`` of virtual time."""
        self._push(self.now + max(delay_ms, 0), _CALL, fn, None)

    def observe(self, observer: Observer) -> None:
        """Call ``observer(sim, kind, details)`` on sends, deliveries, drops,
        faults, crashes, restarts and role changes (for traces and diagrams)."""
        self._observers.append(observer)

    # ------------------------------------------------------------------
    # Clients

    def propose(self, node_id: NodeId, data: bytes, on_reply: ReplyHandler) -> bool:
        """Propose ``data`` at ``node_id``; False if that node is down.

        ``on_reply`` is called once with the reply, unless the node crashes
        first (then the client sees nothing, as over a broken connection).
        """
        node = self.nodes[node_id]
        if node is None:
            return False
        rid = node.propose(data)
        self._handlers[(node_id, self.incarnation[node_id], rid)] = on_reply
        self._flush(node_id)
        return True

    def propose_batch(self, node_id: NodeId, payloads: Iterable[bytes]) -> bool:
        """Propose many payloads at ``node_id`` in one batch, ignoring replies
        (for load generation); False if that node is down."""
        node = self.nodes[node_id]
        if node is None:
            return False
        propose = node.propose
        for data in payloads:
            propose(data)
        self._flush(node_id)
        return True

    def read(self, node_id: NodeId, on_reply: ReplyHandler) -> bool:
        """Request a linearizable read point at ``node_id``; False if it is down."""
        node = self.nodes[node_id]
        if node is None:
            return False
        rid = node.read()
        self._handlers[(node_id, self.incarnation[node_id], rid)] = on_reply
        self._flush(node_id)
        return True

    def submit(self, node_id: NodeId, command: SessionCommand, on_outcome: OutcomeHandler) -> bool:
        """Submit a session command to ``node_id``'s replicated state machine;
        False if that node is down. ``on_outcome`` is called once with the
        outcome, unless the node crashes first. The virtual time is the node's
        clock, should its sessions expire by time."""
        app = self._app(node_id)
        if app is None:
            return False
        try:
            rid = app.submit(command, now_ms=self.now)
        except ApplyError as exc:  # refused by the machine's validate_command: never logged
            on_outcome(Failed(0, exc))
            return True
        self._outcome_handlers[(node_id, self.incarnation[node_id], rid)] = on_outcome
        self._flush(node_id)
        return True

    def query(self, node_id: NodeId, query: bytes, on_outcome: OutcomeHandler) -> bool:
        """A linearizable read of ``node_id``'s state machine; False if it is down."""
        app = self._app(node_id)
        if app is None:
            return False
        rid = app.query(query)
        self._outcome_handlers[(node_id, self.incarnation[node_id], rid)] = on_outcome
        self._flush(node_id)
        return True

    def _app(self, node_id: NodeId) -> ReplicatedStateMachine | None:
        if self.app_factory is None:
            raise RuntimeError("this simulation runs no state machine (pass app=...)")
        return self.apps[node_id] if self.nodes[node_id] is not None else None

    def client_succeeded(self) -> None:
        """A client operation succeeded now (for ``longest_unavailable_ms``)."""
        if self._availability_open:
            self._close_gap()
        self._last_success = self.now

    def end_client_phase(self) -> None:
        """The clients stop now: the last gap without success ends here, and
        later successes (liveness probes) no longer count."""
        if self._availability_open:
            self._close_gap()
            self._availability_open = False

    def _close_gap(self) -> None:
        gap = self.now - self._last_success
        self.stats.longest_unavailable_ms = max(self.stats.longest_unavailable_ms, gap)

    def leader(self) -> NodeId | None:
        """The live leader with the highest term, if any."""
        best: tuple[int, NodeId] | None = None
        for node_id, node in self.nodes.items():
            if node is not None:
                status = node.status()
                if status.role is Role.LEADER and (best is None or status.term > best[0]):
                    best = (status.term, node_id)
        return best[1] if best else None

    def live(self) -> list[NodeId]:
        return [m for m, node in self.nodes.items() if node is not None]

    # ------------------------------------------------------------------
    # Faults

    def apply_fault(self, fault: Fault) -> None:  # noqa: C901 - one branch per fault kind
        """Inject ``fault`` now."""
        self._emit("fault", fault=fault)
        if isinstance(fault, Partition):
            self.network.partition(fault.groups)
            self.stats.partitions += 1
        elif isinstance(fault, IsolateLeader):
            leader = self.leader()
            if leader is not None:
                others = [m for m in self.members if m != leader]
                self.rng.shuffle(others)
                near = [leader, *others[: fault.companions]]
                self.network.partition([near, others[fault.companions :]])
                self.stats.partitions += 1
        elif isinstance(fault, OneWay):
            self.network.block(fault.src, fault.dst)
            self.stats.partitions += 1
        elif isinstance(fault, Bridge):
            self.network.partition([fault.left, fault.right])
            self.stats.partitions += 1
        elif isinstance(fault, Heal):
            self.network.heal()
        elif isinstance(fault, Crash):
            self.crash(fault.node)
        elif isinstance(fault, CrashLeader):
            leader = self.leader()
            if leader is not None:
                self.crash(leader)
        elif isinstance(fault, CrashMidWrite):
            if self.nodes[fault.node] is not None:
                self._crash_on_write.add(fault.node)
        elif isinstance(fault, Restart):
            self._crash_on_write.discard(fault.node)
            if self.nodes[fault.node] is None:
                self._start(fault.node)
        elif isinstance(fault, RestartAll):
            self._crash_on_write.clear()
            for member in self.members:
                if self.nodes[member] is None:
                    self._start(member)
        elif isinstance(fault, SetNetwork):
            if fault.loss or fault.duplicate or fault.reorder:
                self.stats.network_storms += 1
            self.network.config = attrs.evolve(
                self.network.config,
                loss=fault.loss,
                duplicate=fault.duplicate,
                reorder=fault.reorder,
            )
        elif isinstance(fault, Skew):
            self.skew[fault.node] = max(1, fault.percent)
        elif isinstance(fault, ClockJump):
            self.stats.clock_jumps += 1
            for node_id in fault.nodes:
                self._jump(node_id, fault.ticks)
        elif isinstance(fault, ChangeMembership):
            asked = change_membership(self, fault)
            if asked is not None:
                self._flush(asked)
        else:  # pragma: no cover - exhaustive
            raise TypeError(f"unknown fault {fault!r}")

    def crash(self, node_id: NodeId) -> None:
        """Stop ``node_id`` at once, losing whatever it has not synced."""
        if self.nodes[node_id] is None:
            return
        self.nodes[node_id] = None
        self.apps[node_id] = None
        self.storages[node_id].crash()
        self._crash_on_write.discard(node_id)
        incarnation = self.incarnation[node_id]
        for key in [k for k in self._handlers if k[0] == node_id and k[1] == incarnation]:
            del self._handlers[key]
        for key in [k for k in self._outcome_handlers if k[:2] == (node_id, incarnation)]:
            del self._outcome_handlers[key]
        self.stats.crashes += 1
        self._emit("crash", node=node_id)

    # ------------------------------------------------------------------
    # Internals

    def _push(self, at: int, kind: int, a: Any, b: Any) -> None:
        heapq.heappush(self._queue, (at, next(self._seq), kind, a, b))

    def _tick_interval(self, node_id: NodeId) -> int:
        return max(1, self.config.tick_ms * self.skew[node_id] // 100)

    def _start(self, node_id: NodeId) -> None:
        self.incarnation[node_id] += 1
        incarnation = self.incarnation[node_id]
        rng = Random(f"{self.seed}:{node_id}:{incarnation}")
        node = self.protocol.factory(node_id, self.members, self.storages[node_id], rng)
        self.nodes[node_id] = node
        if pipelined(node):
            self._inflight[node_id] = deque()
        else:
            self._inflight.pop(node_id, None)
        if self.app_factory is not None:
            app = self.apps[node_id] = self.app_factory(node)
            app.snapshots = self.storages[node_id].snapshots  # the node's own store
        if incarnation > 1:
            self.stats.restarts += 1
            self._emit("restart", node=node_id)
            for checker in self.checkers:
                checker.on_restart(self, node_id, node)
        first_tick = self.now + self.rng.randint(1, self._tick_interval(node_id))
        self._push(first_tick, _TICK, node_id, incarnation)
        self._flush(node_id)

    def _jump(self, node_id: NodeId, ticks: int) -> None:
        """The node's clock leaps ``ticks`` ahead at once (a paused process
        catching up), so nodes jumped together time out together."""
        node = self.nodes[node_id]
        for _ in range(ticks):
            if node is None:
                return
            node.tick()
            self._flush(node_id)
            node = self.nodes[node_id]

    def _on_tick(self, node_id: NodeId, incarnation: int) -> None:
        node = self.nodes[node_id]
        if node is None or self.incarnation[node_id] != incarnation:
            return
        node.tick()
        self._flush(node_id)
        self._push(self.now + self._tick_interval(node_id), _TICK, node_id, incarnation)

    def _on_deliver(self, message: Message) -> None:
        dst = message.dst
        node = self.nodes.get(dst)
        if node is None:
            self.stats.dropped_crashed += 1
            self._emit("drop", message=message, reason="crashed")
            return
        if self.network.blocked(message.src, dst):
            self.stats.dropped_partition += 1
            self._emit("drop", message=message, reason="partition")
            return
        self.stats.messages_delivered += 1
        if self._observers:
            self._emit("deliver", message=message)
        node.receive(message)
        self._flush(dst)

    def _send(self, message: Message) -> None:
        self.stats.messages_sent += 1
        src, dst = message.src, message.dst
        if self.network.blocked(src, dst):
            self.stats.dropped_partition += 1
            self._emit("drop", message=message, reason="partition")
            return
        arrivals = self.network.arrivals(src, dst, self.now)
        if not arrivals:
            self.stats.dropped_loss += 1
            self._emit("drop", message=message, reason="loss")
            return
        if len(arrivals) > 1:
            self.stats.duplicated += 1
        corrupt = self.config.network.corrupt
        if corrupt and self._corrupt_rng.random() < corrupt:
            message = corrupt_chunk(message, self._corrupt_rng)  # type: ignore[assignment]
        if self._observers:
            self._emit("send", message=message, arrivals=arrivals)
        for at in arrivals:
            self._push(at, _DELIVER, message, None)

    def _flush(self, node_id: NodeId) -> None:
        """Carry out every batch the node has ready, in the contract's order."""
        if node_id in self._inflight:
            self._flush_pipelined(node_id)
            return
        node = self.nodes[node_id]
        storage = self.storages[node_id]
        incarnation = self.incarnation[node_id]
        while node is not None and node.has_ready():
            ready = node.ready()
            write = ready.write
            if write is not None:
                if node_id in self._crash_on_write:
                    storage.stage(write)
                    self.stats.lost_writes += 1
                    self.crash(node_id)
                    return
                storage.write(write)
                self.stats.writes += 1
            ready = self._install(node_id, node, ready)
            for checker in self.checkers:
                checker.on_ready(self, node_id, node, ready)
            for message in ready.messages:
                self._send(message)
            node = self._deliver_outcomes(node_id, incarnation, ready)

    def _flush_pipelined(self, node_id: NodeId) -> None:
        """``_flush`` for a ``PipelinedNode``, in the most adversarial order its
        contract allows: a write only starts (staged, not durable), early
        messages leave and commits and replies are handled at once, and the
        other messages wait until every write before them is durable."""
        node = self.nodes[node_id]
        storage = self.storages[node_id]
        incarnation = self.incarnation[node_id]
        inflight = self._inflight[node_id]
        while node is not None and node.has_ready():
            ready = node.ready()
            write = ready.write
            if write is not None:
                storage.stage(write)
                self.stats.writes += 1
            ready = self._install(node_id, node, ready)
            for checker in self.checkers:
                checker.on_ready(self, node_id, node, ready)
            for message in ready.early_messages:
                self._send(message)
            if write is not None or inflight:
                inflight.append((write, ready.messages))
                if len(inflight) == 1:
                    self._schedule_disk(node_id, incarnation)
            else:
                for message in ready.messages:
                    self._send(message)
            node = self._deliver_outcomes(node_id, incarnation, ready)

    def _deliver_outcomes(
        self, node_id: NodeId, incarnation: int, ready: Ready
    ) -> ConsensusNode | None:
        """Apply (the node's application, if any), hand replies to whoever
        waits for them, compact if due; returns the node, ``None`` if a reply
        handler crashed it."""
        app = self.apps[node_id]
        if app is not None:
            self._run_app(node_id, incarnation, app, ready)
        if ready.restore is not None:
            self.snapshot_integrity.after_install(node_id, self.storages[node_id], ready.restore)
            if app is None and self.nodes[node_id] is not None:
                self.nodes[node_id].snapshot_installed(ready.restore)  # type: ignore[union-attr]
        for reply in ready.replies:
            handler = self._handlers.pop((node_id, incarnation, reply.request_id), None)
            if handler is not None:
                handler(reply)
        node = self.nodes[node_id]
        if (
            node is not None
            and ready.committed
            and self.config.compact_every
            and self.app_factory is None
        ):
            self._maybe_compact(node_id, node)
        return node

    def _schedule_disk(self, node_id: NodeId, incarnation: int) -> None:
        low = max(1, self.config.network.min_delay_ms)
        delay = self._disk_rng.randint(low, max(low, self.config.network.max_delay_ms))
        self.call_later(delay, lambda: self._write_done(node_id, incarnation))

    def _write_done(self, node_id: NodeId, incarnation: int) -> None:
        """The oldest write in flight reached the disk (or, with ``CrashMidWrite``,
        the node crashed first and lost it - after its early messages left)."""
        node = self.nodes[node_id]
        if node is None or self.incarnation[node_id] != incarnation:
            return
        assert isinstance(node, PipelinedNode)
        inflight = self._inflight[node_id]
        write, messages = inflight.popleft()
        if write is not None:
            if node_id in self._crash_on_write:
                self.stats.lost_writes += 1
                self.crash(node_id)
                return
            self.storages[node_id].sync(1)
            node.persisted(write)
        for message in messages:
            self._send(message)
        while inflight and inflight[0][0] is None:  # no write of their own to wait for
            for message in inflight.popleft()[1]:
                self._send(message)
        if inflight:
            self._schedule_disk(node_id, incarnation)
        self._flush(node_id)

    def _run_app(
        self, node_id: NodeId, incarnation: int, app: ReplicatedStateMachine, ready: Ready
    ) -> None:
        bad_replies = app.counters["replies.not_applied"]
        outcomes = app.handle(ready)
        if app.counters["replies.not_applied"] != bad_replies:
            raise InvariantViolation(
                "Acknowledged Writes",
                f"node {node_id} reported a command committed, but applying the log "
                "up to its index never applied it",
            )
        handlers = self._outcome_handlers
        for outcome in outcomes:
            handler = handlers.pop((node_id, incarnation, outcome.request_id), None)
            if handler is not None:
                handler(outcome)

    def _install(self, node_id: NodeId, node: ConsensusNode, ready: Ready) -> Ready:
        """Check a ``Ready.restore`` and, for a node without an application,
        install it (the application's layer installs its own); a rejected one
        is told to the node and goes no further."""
        write = ready.write
        if write is not None and write.snapshot is not None:
            self.snapshot_integrity.record(write.snapshot)
        meta = ready.restore
        if meta is None:
            return ready
        storage = self.storages[node_id]
        self.snapshot_integrity.before_install(node_id, storage, meta)
        if self.apps[node_id] is not None:
            return ready
        reason = self.snapshot_integrity.install(storage, meta)
        if reason is None:
            return ready
        self.stats.snapshots_rejected += 1
        node.snapshot_rejected(meta, reason)
        return attrs.evolve(ready, restore=None)

    def _maybe_compact(self, node_id: NodeId, node: ConsensusNode) -> None:
        applied, digest = self.committed_log.state_of(node_id)
        last = self._compacted.get(node_id, 0)
        if applied - last >= self.config.compact_every:
            term = self.committed_log.terms.get(node_id, 0)
            data = encode_snapshot(applied, digest)
            membership = membership_at(node, applied)
            meta = write_snapshot(self.storages[node_id].snapshots, applied, term, data, membership)
            node.compact(applied, meta)
            self._compacted[node_id] = applied

    def _watch_leaders(self) -> None:
        """Count elections and leaderless time."""
        current: NodeId | None = None
        current_term = -1
        for node_id, node in self.nodes.items():
            if node is None:
                continue
            status = node.status()
            if status.role is Role.LEADER:
                key = (node_id, status.term)
                if key not in self._leaders:
                    self._leaders.add(key)
                    self.stats.elections += 1
                    self._emit("leader", node=node_id, term=status.term)
                if status.term > current_term:
                    current, current_term = node_id, status.term
        if current is None:
            if self._leaderless_since is None:
                self._leaderless_since = self.now
            return
        if self._leaderless_since is not None:
            gap = self.now - self._leaderless_since
            self.stats.longest_leaderless_ms = max(self.stats.longest_leaderless_ms, gap)
            self._leaderless_since = None
        if current != self._last_leader:
            if self._last_leader is not None:
                self.stats.leader_changes += 1
            self._last_leader = current

    def _emit(self, kind: str, **details: Any) -> None:
        for observer in self._observers:
            observer(self, kind, details)
