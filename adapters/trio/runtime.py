"""The trio runtime: one consensus node, its state machine, storage and network.

::

    async with open_node(config, MyStateMachine()) as node:
        result = await node.propose(b"command")     # applied exactly once
        answer = await node.read(b"query")          # linearizable
        print(node.status())

The driver loop runs any core under the shared contract (Raft, ZAB,
Multi-Paxos). Ticks from a timer and messages from peers go straight into the
core as they arrive; client requests are admitted into a bounded queue and
fed to the core in helpings between them (``admission.py``), so that client
work never holds up heartbeats and votes. One task, the pump,
carries out the core's ``Ready`` batches strictly in order: the messages that
may leave before the write (``Ready.early_messages``), the durable write (in
the event loop or in a worker thread: ``NodeConfig.storage_writes``), then the
other messages, then ``ReplicatedStateMachine.handle`` (apply, answer). With
a pipelined core the pump does not wait for a threaded write: it goes on with
later batches, and their other messages leave once every earlier write is
durable (write-behind, docs/runtime.md). While a write is in flight, client
requests wait in the admission queue and go into the next write together:
many proposals share one fsync (group commit). Frames are written
straight into the sockets at the end of each batch and before each write
(``framing.Flusher``), not by waking a writer task per frame.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractContextManager, asynccontextmanager
from typing import Any

import attrs
import trio

from pyconsensus.adapters.cbor import Codec, EncodeError, Limits, default_codec
from pyconsensus.adapters.cbor.tags import all_types
from pyconsensus.adapters.lmdb import LmdbStorage
from pyconsensus.adapters.trio import groups
from pyconsensus.adapters.trio.admission import Admission, Done
from pyconsensus.adapters.trio.client import (
    AttemptState,
    RequestRunner,
    RetryPolicy,
    check_size,
    new_client_id,
)
from pyconsensus.adapters.trio.compaction import SnapshotDriver
from pyconsensus.adapters.trio.config import Address, NodeConfig
from pyconsensus.adapters.trio.connection import ConnectionLost, ConnectionPool, NotSent
from pyconsensus.adapters.trio.errors import (
    BadRequest,
    IndeterminateResult,
    NodeStopped,
    outcome_to_reply,
)
from pyconsensus.adapters.trio.framing import Flusher, FrameReader, FrameSender, prefixed
from pyconsensus.adapters.trio.http import node_handler, serve_http
from pyconsensus.adapters.trio.identity import Principal, bound_client_id, forbidden
from pyconsensus.adapters.trio.joining import join_cluster
from pyconsensus.adapters.trio.leadership import LeaderChange, LeaderChanges, LeaderWatch
from pyconsensus.adapters.trio.loop import Wakeup, yield_to_others
from pyconsensus.adapters.trio.members import MemberDriver, joining_options
from pyconsensus.adapters.trio.metrics import NodeMetrics, require_prometheus
from pyconsensus.adapters.trio.observe import Observer, TimedWrites
from pyconsensus.adapters.trio.peers import LinkSettings, PeerSet
from pyconsensus.adapters.trio.server import Server
from pyconsensus.adapters.trio.snapshotting import LoopStallGauge
from pyconsensus.adapters.trio.startup import claim_storage
from pyconsensus.adapters.trio.tls import Tls
from pyconsensus.adapters.trio.transport import CONNECTION_ERRORS, Stream, describe, direct_write
from pyconsensus.adapters.trio.writer import StorageWriter
from pyconsensus.core.errors import ConfigError, NotLeader
from pyconsensus.core.node import ConsensusNode, PipelinedNode, ReportsReplication, pipelined
from pyconsensus.core.ready import Ready, Write
from pyconsensus.core.storage import Storage
from pyconsensus.core.types import Role, Status
from pyconsensus.protocols import Protocol as ProtocolSpec
from pyconsensus.protocols import get_protocol
from pyconsensus.rsm import ApplyError, ReplicatedStateMachine, SessionCommand, StateMachine
from pyconsensus.rsm.replicated import Completed, Failed, Outcome
from pyconsensus.rsm.sessions import ClientSession
from pyconsensus.service import messages as service
from pyconsensus.service.messages import (
    WIRE_VERSION,
    AdminRequest,
    ConnectionKind,
    Hello,
    Query,
    Reply,
    ReplyStatus,
    StatusReply,
    StatusRequest,
    Submit,
)

log = logging.getLogger("pyconsensus.trio")

SERVICE_TYPES: tuple[type, ...] = tuple(
    cls for cls in vars(service).values() if isinstance(cls, type) and attrs.has(cls)
)


@attrs.frozen(slots=True)
class PeerStatus:
    """What this node knows about one peer."""

    node_id: int
    address: str
    connected: bool
    """Whether this node's connection to the peer is up."""
    match_index: int | None
    """The highest log index known to be held there, while this node leads
    (``ReportsReplication``: Raft, ZAB and Paxos); ``None`` otherwise."""
    queued_frames: int
    sent_frames: int
    dropped_frames: int


@attrs.frozen(slots=True)
class NodeStatus:
    """A point-in-time view of a running node."""

    node_id: int
    protocol: str
    role: Role
    term: int
    """Raft term, ZAB epoch, or the Paxos ballot (packed into one int)."""
    leader: int | None
    commit_index: int
    applied_index: int
    last_index: int
    peers: tuple[PeerStatus, ...]
    counters: Mapping[str, int]


class _Waiter:
    __slots__ = ("event", "outcome")

    def __init__(self) -> None:
        self.event = trio.Event()
        self.outcome: Outcome | None = None

    def __call__(self, outcome: Outcome | None) -> None:
        self.outcome = outcome
        self.event.set()


class _InFlight:
    """A write handed to the writer thread, and the messages that wait for it."""

    __slots__ = ("after", "write")

    def __init__(self, write: Write, after: list[Any]) -> None:
        self.write = write
        self.after = after


class Node:
    """A running node (see the module docstring); build it with ``open_node``."""

    def __init__(
        self,
        config: NodeConfig,
        machine: StateMachine,
        storage: Storage,
        *,
        codec: Codec | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.machine = machine
        self.storage = storage
        self.rng = rng if rng is not None else random.Random()
        if codec is None:
            codec = (
                default_codec()
                if config.transport.max_frame_bytes == Limits().max_frame_bytes
                else Codec(all_types(), Limits(max_frame_bytes=config.transport.max_frame_bytes))
            )
        self.codec = codec
        spec = _protocol_spec(config)
        self.core: ConsensusNode = spec.factory(
            config.node_id, sorted({*config.members, config.node_id}), storage, self.rng
        )
        self.rsm = ReplicatedStateMachine(
            self.core,
            machine,
            snapshots=storage.snapshots,
            compact_every=0,  # the SnapshotDriver compacts, off the loop
            session_timeout_ms=round(config.session_timeout * 1000),
        )
        self.counters: Counter[str] = Counter()
        self.tls = Tls(config.tls, self.counters) if config.tls is not None else None
        self.snapshots = SnapshotDriver(
            self.core,
            self.rsm,
            storage,
            compact_every=config.compact_every,
            counters=self.counters,
            wake=self._wake,
        )
        self.session = ClientSession(new_client_id(self.rng))
        self._woken = False
        self._wakeup = Wakeup()
        self.flusher = Flusher(self._wake)
        hello = Hello(
            config.cluster_id,
            ConnectionKind.PEER,
            config.node_id,
            config.protocol,
            WIRE_VERSION,
            storage.incarnation,
        )
        self.links = PeerSet(
            LinkSettings(
                hello,
                codec,
                config.transport,
                self.counters,
                self.rng,
                self.flusher,
                self.tls,
                self._refused_by_peer,
            )
        )
        for peer, address in config.peers.items():
            self.links.add(peer, address)
        self.admission = Admission(config.max_pending_requests, config.requests_per_batch)
        self.server = Server(config, self, codec, self.counters, SERVICE_TYPES, tls=self.tls)
        self.port: int | None = None
        self.batches = 0
        self.writes = 0
        self.stopping = False
        self._waiters: dict[int, Callable[[Outcome | None], None]] = {}
        # What operators see (docs/operations.md): events always, metrics if served.
        self.clock = trio.current_time
        self.observer = Observer(
            config.node_id, config.protocol, config.observe, self.counters, self.core.counters
        )
        self.metrics: NodeMetrics | None = None
        if config.observe.metrics is not None:
            require_prometheus()
            self.metrics = NodeMetrics()
        self.metrics_port: int | None = None
        self._timed = TimedWrites(
            storage, self.observer, None if self.metrics is None else self.metrics.fsync_seconds
        )
        self._writer = StorageWriter(self._timed, f"pyconsensus-storage-{config.node_id}")
        self._in_flight: deque[_InFlight] = deque()
        self._write_error: BaseException | None = None
        self.failure: Exception | None = None
        """Why the node stopped by itself (``open_node`` raises it)."""
        self._nursery: trio.Nursery | None = None
        self._pool: ConnectionPool | None = None
        self._runner: RequestRunner | None = None
        self.stalls = LoopStallGauge(interval=0.005)
        """The longest the event loop could not run a task (``max_ms``)."""
        self.leadership = LeaderWatch(config.node_id)
        self.members = MemberDriver(
            config.node_id,
            self.core,
            storage.incarnation,
            config.members,
            self.counters,
            connect=self._connect_peer,
            disconnect=self.remove_peer,
            connected=lambda: frozenset(self.links),
            wake=self._wake,
            on_removed=self._removed,
        )
        self.removed = False
        """Whether the node stopped because it was removed from the cluster."""

    @property
    def node_id(self) -> int:
        return self.config.node_id

    @property
    def incarnation(self) -> str:
        """This node's storage incarnation (what its handshakes show)."""
        return self.storage.incarnation

    # ------------------------------------------------------------------
    # Application API

    async def propose(self, command: bytes, *, timeout: float | None = None) -> bytes:
        """Apply ``command`` to the replicated state machine exactly once and
        return its result.

        At a follower the command is forwarded to the leader (or, with
        ``forward = false``, fails with ``NotLeader(leader_hint)``). Failed and
        unanswered attempts are retried with the same session sequence number
        until ``timeout`` (default ``config.request_timeout``); then
        ``Unavailable`` (it did not take effect) or ``IndeterminateResult``
        (it may have). Cancelling the call abandons the wait, not the command.
        A command too large for a frame raises ``EncodeError`` at once.
        """
        check_size(self.codec, command)
        return (await self.submit(self.session.next(command), timeout=timeout)).result

    async def submit(self, command: SessionCommand, *, timeout: float | None = None) -> Reply:
        """``propose`` for a command in a session of the caller's own (a client
        id and sequence numbers it manages); the ``Reply`` also says at which
        index it committed."""
        runner = self._require_runner()
        deadline = trio.current_time() + (
            self.config.request_timeout if timeout is None else timeout
        )
        try:
            request = Submit(
                0,
                command.client_id,
                command.seq,
                command.first_unacked or command.seq,
                command.payload,
                False,
            )
            return await runner.run(request, deadline)
        finally:
            if command.client_id == self.session.client_id:
                self.session.settle(command.seq)

    async def read(self, query: bytes, *, timeout: float | None = None) -> bytes:
        """Answer ``query`` from the state machine, linearizably: the answer
        reflects every command acknowledged before the call (a ReadIndex
        barrier at the leader; forwarded there from a follower)."""
        runner = self._require_runner()
        deadline = trio.current_time() + (
            self.config.request_timeout if timeout is None else timeout
        )
        return (await runner.run(Query(0, query, False), deadline)).result

    def status(self) -> NodeStatus:
        """Role, term, leader, commit and applied index, and peers' progress."""
        core = self.core.status()
        replicated = self.core.replication() if isinstance(self.core, ReportsReplication) else {}
        peers = []
        for peer, link in self.links.items():
            match = replicated.get(peer)
            state = link.status()
            peers.append(
                PeerStatus(
                    peer,
                    str(link.address),
                    state["connected"],
                    match,
                    state["queued_frames"],
                    state["sent_frames"],
                    state["dropped_frames"],
                )
            )
        counters = Counter(self.counters)
        counters.update({f"core.{k}": v for k, v in self.core.counters.items()})
        counters.update({f"rsm.{k}": v for k, v in self.rsm.counters.items()})
        counters["batches"] = self.batches
        counters["storage.writes"] = self.writes
        counters["send.eager_syscalls"] = self.flusher.syscalls
        counters["requests.busy"] = self.admission.refused
        counters["loop.max_stall_us"] = round(self.stalls.max_ms * 1000)
        return NodeStatus(
            node_id=self.node_id,
            protocol=self.config.protocol,
            role=core.role,
            term=core.term,
            leader=core.leader,
            commit_index=core.commit_index,
            applied_index=self.rsm.applied,
            last_index=core.last_index,
            peers=tuple(peers),
            counters=dict(counters),
        )

    def queue_depths(self) -> dict[str, int]:
        """Work waiting in the node, by queue: client requests not yet handed
        to the core (``admission``) and handed to it but unanswered
        (``in_core``), storage writes in flight, frames queued for peers."""
        return {
            "admission": len(self.admission),
            "in_core": len(self._waiters),
            "writes_in_flight": len(self._in_flight),
            "peer_frames": sum(len(link.sender) for link in self.links.values()),
        }

    async def ask_status(self, node_id: int, timeout: float) -> StatusReply | None:
        """``node_id``'s status over a client connection (this node's own
        directly), or None if it does not answer within ``timeout``."""
        if node_id == self.node_id or self._pool is None:
            return self._status_reply(StatusRequest(0, 0)) if node_id == self.node_id else None
        pool = self._pool
        with trio.move_on_after(timeout):
            try:
                reply = await pool.call(node_id, lambda rid: StatusRequest(rid, 0))
            except (NotSent, ConnectionLost):
                return None
            return reply if isinstance(reply, StatusReply) else None
        return None

    def on_leader_change(self, callback: Callable[[LeaderChange], None]) -> Callable[[], None]:
        """Call ``callback(change)`` in the event loop whenever this node's view
        of the leader changes (``leadership.py``: within one tick); it must not
        block. Returns a function that unsubscribes it."""
        return self.leadership.subscribe(callback)

    def leader_changes(self) -> AbstractContextManager[LeaderChanges]:
        """``with node.leader_changes() as changes: async for change in changes:``
        - the changes from now on; the iteration ends when the node stops."""
        return self.leadership.changes()

    def isolate(self, isolated: bool = True) -> None:
        """Fault injection for tests and demos: cut (or restore) every peer
        connection - outgoing ones stop, incoming handshakes are refused.
        Clients can still connect."""
        log.warning("node %d %s", self.node_id, "isolated" if isolated else "rejoins")
        self.server.isolate(isolated)
        self.links.isolate(isolated)

    def add_peer(self, peer_id: int, address: Address) -> None:
        """Talk to ``peer_id`` at ``address`` from now on (the transport only:
        the core's membership is the protocol's business)."""
        self.links.add(peer_id, address)

    def reload_tls(self) -> bool:
        """Load the TLS files again (``pyconsensus node`` does on SIGHUP); new
        connections use them. False if TLS is off or the files do not load
        (then the old ones stay in use)."""
        return self.tls is not None and self.tls.reload(force=True)

    def remove_peer(self, peer_id: int) -> None:
        """Stop talking to ``peer_id``: close the connections both ways and
        refuse its handshakes from now on."""
        self.links.remove(peer_id)
        self.server.drop_peer(peer_id)

    def _connect_peer(self, peer_id: int, address: Address) -> None:
        """A member of the configuration: dial it, and reach it as a client too."""
        self.links.add(peer_id, address)
        if self._pool is not None:
            self._pool.addresses[peer_id] = address

    def _refused_by_peer(self, peer_id: int, reason: str) -> None:
        if reason == "not_member":
            self.members.refused_as_stranger(peer_id)
        elif reason == "welcome":
            self.members.connected_to(peer_id)

    def _removed(self, reason: str) -> None:
        """This node is no longer a member: stop cleanly (``open_node``'s block ends)."""
        self.removed = True
        self.observer.event("node_removed", f"{reason}; shutting down", logging.WARNING)
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()
        self._stop()

    async def administer(self, request: AdminRequest) -> Reply:
        """Run a membership operation (``members.py``) at this node."""
        return await self.members.administer(request, self.config.request_timeout)

    # ------------------------------------------------------------------
    # Lifecycle

    async def _start(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        hello = Hello(
            self.config.cluster_id,
            ConnectionKind.CLIENT,
            None,
            self.config.protocol,
            WIRE_VERSION,
        )
        self._pool = ConnectionPool(
            self.config.members, hello, self.codec, self.config.transport, nursery, tls=self.tls
        )
        nodes = sorted(self.config.members) if self.config.forward else [self.node_id]
        policy = RetryPolicy(
            attempt_timeout=self.config.request_timeout, follow_hints=self.config.forward
        )
        self._runner = RequestRunner(nodes, self._attempt, policy, self.rng)
        self._runner.leader = self.node_id
        nursery.start_soon(self._drive)
        self.port = await nursery.start(self.server.run)
        await nursery.start(self.links.run)
        nursery.start_soon(self._ticker)
        nursery.start_soon(self.stalls.run)
        if self.config.join:
            nursery.start_soon(join_cluster, self, self._pool)
        where = f"{self.config.address.host}:{self.port}"
        self.observer.event(
            "node_started", f"{self.config.protocol} node listening on {where}", address=where
        )
        metrics = self.config.observe.metrics
        if metrics is not None:
            self.metrics_port = await nursery.start(serve_http, metrics, node_handler(self))
            where = f"{metrics.host}:{self.metrics_port}"
            self.observer.event(
                "metrics_serving", f"/metrics and /health on http://{where}", address=where
            )

    def _stop(self) -> None:
        """Refuse new requests and release every waiter (their requests are
        indeterminate: they may still commit elsewhere)."""
        self.stopping = True
        log.info("node %d: longest event-loop stall %.1f ms", self.node_id, self.stalls.max_ms)
        self.leadership.close()
        waiters = self._waiters
        self._waiters = {}
        for waiter in waiters.values():
            waiter(None)
        self.admission.release()
        if self._pool is not None:
            self._pool.close()

    def _require_runner(self) -> RequestRunner:
        if self._runner is None or self.stopping:
            raise NodeStopped(f"node {self.node_id} is not running")
        return self._runner

    # ------------------------------------------------------------------
    # The driver loop

    def _wake(self) -> None:
        if not self._woken:
            self._woken = True
            self._wakeup.wake()

    async def _ticker(self) -> None:
        interval = self.config.tick_interval
        deadline = trio.current_time()
        counters = self.counters
        while True:
            deadline += interval
            now = trio.current_time()
            if now > deadline:
                # Late (a busy loop, a starved process): skip the missed ticks,
                # do not burst - and count them, they show a stalled loop.
                counters["ticks.skipped"] += int((now - deadline) / interval) + 1
                deadline = now
            await trio.sleep_until(deadline)
            late = trio.current_time() - deadline
            # One turn of the scheduler first: peer messages that arrived by the
            # time the tick fired go into the core before it (after a stall, a
            # tick must not find their senders silent - a leader would step
            # down for lack of acknowledgements that are already here).
            await yield_to_others()
            self.core.tick()
            self.members.tick()
            status = self.core.status()
            self.leadership.check(status)
            self._wake()
            self._observe_tick(status, late)

    def _observe_tick(self, status: Status, late: float) -> None:
        self.observer.watch(status, self.clock())
        if self.metrics is not None:
            self.metrics.loop_lag_seconds.observe(late)

    async def _drive(self) -> None:
        """Run the pump; if it fails (the state machine raised something other
        than ``ApplyError``, storage failed), stop the node: one line in the
        log, and ``open_node`` raises the error itself (``failure``)."""
        try:
            await self._pump()
        except Exception as exc:
            self.failure = exc
            log.critical("node %d stopped: %s", self.node_id, describe(exc).replace("\n", " "))
            assert self._nursery is not None
            self._nursery.cancel_scope.cancel()  # first: the block sees Cancelled...
            self._stop()  # ...not its waiting requests' IndeterminateResult

    async def _pump(self) -> None:  # noqa: C901 - the ordered steps of one Ready batch, kept in one place
        core = self.core
        storage = self._timed
        writer = self._writer
        observe = self.observer.batch
        metrics = self.metrics
        flush = self.flusher.flush
        mode = self.config.storage_writes
        # A PipelinedNode: commits and replies do not wait for the batch's write,
        # and the core learns of each write's durability (persisted).
        early_apply = pipelined(core)
        persisted = core.persisted if early_apply and isinstance(core, PipelinedNode) else None
        admission = self.admission
        in_flight = self._in_flight
        while True:
            if not self._woken:
                await self._wakeup.park()
            self._woken = False
            if self._write_error is not None:
                raise self._write_error
            if admission and not in_flight:
                # Client work only between writes: what arrives during a write
                # waits here and goes into the next one (group commit).
                self._feed()
            while core.has_ready():
                ready = core.ready()
                self.batches += 1
                observe(ready)
                if metrics is not None:
                    metrics.batch(ready)
                if ready.restore is not None:
                    await self._restore_batch(ready, persisted)
                    continue
                if ready.early_messages:
                    self._send(ready.early_messages)
                if early_apply:
                    self._apply(ready)
                write = ready.write
                if write is not None and not write.is_empty():
                    # Out before the flush: earlier batches' messages and this
                    # batch's early ones and replies (none depends on its write).
                    flush()
                    # Durable before anything else of this batch leaves the node.
                    self.writes += 1
                    if mode == "inline" or (
                        mode == "auto"
                        and not ready.early_messages
                        and not in_flight
                        # Snapshot chunks and compactions (which may free a
                        # long log): flushed off the loop.
                        and write.stage is None
                        and write.snapshot is None
                    ):
                        storage.write(write)
                        if persisted is not None:
                            persisted(write)
                    elif persisted is not None:
                        # Pipelined: the loop goes on (ticks, heartbeats, acks)
                        # while the write is flushed; the batch's other messages
                        # leave once it and every earlier write are durable.
                        self._write_behind(write, ready.messages)
                        continue
                    else:
                        await writer.write(write)
                if ready.messages:
                    if in_flight:
                        in_flight[-1].after.extend(ready.messages)  # after every earlier write
                    else:
                        self._send(ready.messages)
                if not early_apply:
                    self._apply(ready)
            self.members.sync()
            flush()
            if admission and not in_flight:
                # More client work waits: let ticks and peer messages in first.
                self._woken = True
                await yield_to_others()

    def _write_behind(self, write: Write, messages: Sequence[Any]) -> None:
        """Hand ``write`` to the writer thread without waiting (pipelined cores)."""
        entry = _InFlight(write, list(messages))
        self._in_flight.append(entry)
        self._writer.submit(write, lambda error: self._written(entry, error))

    def _written(self, entry: _InFlight, error: BaseException | None) -> None:
        """A write handed over by ``_write_behind`` finished (they finish in order)."""
        in_flight = self._in_flight
        if in_flight and in_flight[0] is entry:
            in_flight.popleft()
        if error is None:
            try:
                core = self.core
                if isinstance(core, PipelinedNode):  # only pipelined cores write behind
                    core.persisted(entry.write)
                if entry.after:
                    self._send(entry.after)
            except Exception as exc:  # raised by the pump, not in the loop's callback
                error = exc
        if error is not None:
            self._write_error = error  # the pump raises it: a node that cannot persist stops
        self._wake()

    async def _restore_batch(self, ready: Ready, persisted: Callable[[Write], None] | None) -> None:
        """A batch that restores a snapshot: every earlier write and its own
        are made durable first (the snapshot's last chunk may be in them), then
        the ``SnapshotDriver`` installs and restores it off the loop, then the
        rest of the batch is applied."""
        assert ready.restore is not None
        if ready.early_messages:
            self._send(ready.early_messages)
        write = ready.write
        self.flusher.flush()
        if write is not None and not write.is_empty():
            self.writes += 1
            await self._writer.write(write)  # after every write in flight: one queue
            if persisted is not None:
                persisted(write)
        else:
            await self._writer.write(Write())  # a barrier behind the writes in flight
        if ready.messages:
            self._send(ready.messages)
        await self.snapshots.restore(ready.restore)
        self._apply(attrs.evolve(ready, restore=None))

    def _apply(self, ready: Ready) -> None:
        """Apply and answer (``ReplicatedStateMachine.handle``); start a
        compaction off the loop when one is due."""
        if ready.replies:
            self.members.replies(ready)
        outcomes = self.rsm.handle(ready)
        if self._nursery is not None:
            self.snapshots.maybe_start(self._nursery.start_soon)
        if outcomes:
            if self.metrics is not None:
                self.metrics.answered(outcomes)
            waiters = self._waiters
            for outcome in outcomes:
                waiter = waiters.pop(outcome.request_id, None)
                if waiter is not None:
                    waiter(outcome)

    def _send(self, messages: Sequence[Any]) -> None:
        self.links.send(messages)

    # ------------------------------------------------------------------
    # Requests: one attempt here, or at another node

    def _admit(self, request: Submit | Query, done: Done) -> bool:
        """Queue ``request`` for the core (``admission.py``); ``done`` gets its
        outcome (``None`` if the node stops first). False if the node is busy."""
        if not self.admission.admit(request, done, len(self._waiters)):
            return False
        self._wake()
        return True

    def _feed(self) -> None:
        """Hand the next helping of admitted requests to the core."""
        rsm = self.rsm
        waiters = self._waiters
        metrics = self.metrics
        fed = 0.0 if metrics is None else metrics.clock()
        for request, done in self.admission.take():
            try:
                if isinstance(request, Submit):
                    rid = rsm.submit(
                        SessionCommand(
                            request.client_id, request.seq, request.payload, request.first_unacked
                        ),
                        now_ms=time.time_ns() // 1_000_000,  # stamped only if sessions expire
                    )
                    if metrics is not None:
                        metrics.proposed[rid] = fed
                else:
                    rid = rsm.query(request.payload)
                    if metrics is not None:
                        metrics.queried[rid] = fed
            except ValueError as exc:  # inconsistent session numbers
                done(Failed(0, BadRequest(str(exc))))
                continue
            except ApplyError as exc:  # the machine's validate_command: never logged
                done(Failed(0, exc))
                continue
            waiters[rid] = done

    async def _attempt(self, node: int, request: Submit | Query, state: AttemptState) -> Reply:
        """One attempt of the API's retry loop."""
        if self.stopping:
            raise NodeStopped(f"node {self.node_id} is stopping")
        if node != self.node_id:
            assert self._pool is not None
            forwarded = attrs.evolve(request, forwarded=True)
            connection = await self._pool.get(node)
            state.sent = True
            reply = await connection.call(lambda rid: attrs.evolve(forwarded, request_id=rid))
            if not isinstance(reply, Reply):
                raise ConnectionLost(f"node {node} answered with {type(reply).__name__}")
            return reply
        waiter = _Waiter()
        if not self._admit(request, waiter):
            return _refusal(0, "busy", f"node {self.node_id} is busy")
        state.sent = True
        await waiter.event.wait()
        if waiter.outcome is None:
            raise IndeterminateResult(
                f"node {self.node_id} stopped before the request was answered", "stopping"
            )
        return outcome_to_reply(waiter.outcome, 0)

    # ------------------------------------------------------------------
    # Serving clients (server.Handler)

    def deliver(self, messages: Sequence[object]) -> None:
        receive = self.core.receive
        for message in messages:
            receive(message)
        if messages:
            self._wake()

    def leader_hint(self) -> int | None:
        return self.core.status().leader

    def is_peer(self, node_id: int) -> bool:
        return node_id in self.links

    def identity_problem(self, node_id: int, incarnation: str) -> str | None:
        return self.members.identity_problem(node_id, incarnation)

    async def serve_client(self, stream: Stream, reader: FrameReader, who: Principal) -> None:
        transport = self.config.transport
        sender = FrameSender(transport.send_queue_frames, transport.send_queue_bytes, self.flusher)
        error: BaseException | None = None
        async with trio.open_nursery() as nursery:
            connection = _ClientState(sender, self.codec, who, self.counters, nursery.cancel_scope)
            nursery.start_soon(self._write_replies, sender, stream, nursery.cancel_scope)
            try:
                await self._read_requests(reader, connection)
            except BaseException as exc:  # re-raised below, outside the nursery's group
                if isinstance(exc, trio.Cancelled | KeyboardInterrupt | SystemExit):
                    raise
                error = exc
            finally:
                connection.close()
                sender.close()
                nursery.cancel_scope.cancel()
        if error is not None:
            raise error

    async def _write_replies(
        self, sender: FrameSender, stream: Stream, scope: trio.CancelScope
    ) -> None:
        try:
            await sender.run(stream, direct_write(stream))
        except CONNECTION_ERRORS:
            pass
        finally:
            scope.cancel()

    async def _read_requests(self, reader: FrameReader, connection: _ClientState) -> None:
        limit = self.config.transport.max_client_requests
        idle = self.config.transport.idle_timeout_s
        helping = self.config.requests_per_batch
        while True:
            frames: list[bytes] = []
            with trio.move_on_after(idle):
                frames = await reader.receive()
            if not frames:
                if connection.outstanding:
                    continue  # waiting for its answers is not idling
                self.counters["connections.idle_closed"] += 1
                return
            for start in range(0, len(frames), helping):
                if start:
                    # A burst of requests is client work too: ticks and peer
                    # messages get a turn between helpings.
                    await yield_to_others()
                self._read_helping(frames[start : start + helping], connection, limit)

    def _read_helping(self, frames: list[bytes], connection: _ClientState, limit: int) -> None:
        decode = self.codec.decode
        counters = self.counters
        total = self.config.max_pending_requests
        for frame in frames:
            request = decode(frame)
            refusal = forbidden(connection.who, request)
            if refusal is not None:
                self.counters["requests.forbidden"] += 1
                connection.send(refusal)
            elif isinstance(request, Submit | Query):
                if self.stopping:
                    connection.send(_refusal(request.request_id, "stopping", "node stopping"))
                elif connection.outstanding >= limit:
                    counters["requests.overloaded"] += 1
                    connection.send(_refusal(request.request_id, "overloaded", "too many requests"))
                elif counters["requests.outstanding"] >= total:
                    self.admission.refused += 1  # ``requests.busy``, as if admission said no
                    connection.send(_refusal(request.request_id, "busy", "node busy, retry later"))
                else:
                    self._serve_request(request, connection)
            elif isinstance(request, StatusRequest):
                connection.send(self._status_reply(request))
            elif isinstance(request, AdminRequest) and self._nursery is not None:
                connection.start()
                self._nursery.start_soon(self._serve_admin, request, connection)
            else:
                counters["frames.unexpected"] += 1

    def _serve_request(self, request: Submit | Query, connection: _ClientState) -> None:
        if isinstance(request, Submit) and connection.who.client:
            # The session is the authenticated client's (identity.bound_client_id).
            request = attrs.evolve(
                request, client_id=bound_client_id(connection.who, request.client_id)
            )
        connection.start()
        self.counters["requests.served"] += 1

        def done(outcome: Outcome | None) -> None:
            if connection.closed:
                return
            if outcome is None:
                connection.answer(_refusal(request.request_id, "stopping", "node stopping"))
                return
            error = outcome.error if isinstance(outcome, Failed) else None
            if (
                isinstance(error, NotLeader)
                and self.config.forward
                and not request.forwarded
                and error.leader_hint is not None
                and error.leader_hint != self.node_id
                and self._nursery is not None
                and not self.stopping
            ):
                self._nursery.start_soon(self._forward, request, error.leader_hint, connection)
                return
            effect = isinstance(outcome, Completed) and isinstance(request, Submit)
            connection.answer(outcome_to_reply(outcome, request.request_id), took_effect=effect)

        if not self._admit(request, done):
            connection.answer(_refusal(request.request_id, "busy", "node busy, retry later"))

    async def _serve_admin(self, request: AdminRequest, connection: _ClientState) -> None:
        self.counters["requests.admin"] += 1
        reply = await self.administer(request)
        if not connection.closed:
            connection.answer(reply)

    async def _forward(
        self, request: Submit | Query, leader: int, connection: _ClientState
    ) -> None:
        """Pass a client's request on to the leader and its answer back."""
        assert self._pool is not None
        self.counters["requests.forwarded"] += 1
        forwarded = attrs.evolve(request, forwarded=True)
        reply: Any = None
        with trio.move_on_after(self.config.request_timeout):
            try:
                reply = await self._pool.call(
                    leader, lambda rid: attrs.evolve(forwarded, request_id=rid)
                )
            except NotSent as exc:
                # Nothing left: the client may go to the leader itself.
                reply = Reply(0, ReplyStatus.FAILED, b"", 0, "not_leader", str(exc), leader)
            except ConnectionLost:
                reply = None
        if not isinstance(reply, Reply):
            status = (
                ReplyStatus.INDETERMINATE if isinstance(request, Submit) else ReplyStatus.FAILED
            )
            reply = Reply(
                0, status, b"", 0, "indeterminate", f"forwarding to node {leader} failed", leader
            )
        elif reply.status == ReplyStatus.OK and reply.leader_hint is None:
            reply = attrs.evolve(reply, leader_hint=leader)  # tell the client who leads
        if connection.closed:
            return
        effect = reply.status == ReplyStatus.OK and isinstance(request, Submit)
        connection.answer(attrs.evolve(reply, request_id=request.request_id), took_effect=effect)

    def _status_reply(self, request: StatusRequest) -> StatusReply:
        status = self.core.status()
        digest = state = b""
        if request.detail >= 1:
            state = self.machine.snapshot()
            digest = hashlib.sha256(state).digest()
            if request.detail < 2:
                state = b""
        return StatusReply(
            request.request_id,
            self.node_id,
            self.config.protocol,
            status.role.value,
            status.term,
            status.leader,
            status.commit_index,
            self.rsm.applied,
            status.last_index,
            digest,
            state,
        )


def _protocol_spec(config: NodeConfig) -> ProtocolSpec:
    """The core's spec with the configured options, plus the runtime's own
    defaults where the protocol has such an option and the cluster file did
    not decide otherwise: pipelined writes (``NodeConfig.pipelined_writes``)
    and no empty appends just to spread the commit index (``broadcast_commit
    = false``: followers learn it with the next append or heartbeat, and a
    lone write costs half the messages - see docs/runtime.md)."""
    spec = get_protocol(config.protocol)
    options = dict(config.protocol_options)
    if config.join:
        options.update(joining_options(config))
    defaults = {"broadcast_commit": "false"}
    if config.pipelined_writes:
        defaults["pipelined_writes"] = "true"
    for key, value in defaults.items():
        if key in options:
            continue
        try:
            spec.with_options({**options, key: value})
        except ConfigError:
            continue  # the protocol has no such option
        options[key] = value
    return spec.with_options(options)


class _ClientState:
    """One client connection as the node serves it.

    ``outstanding`` counts its requests not answered yet; the node-wide sum is
    the ``requests.outstanding`` gauge in ``counters``. A reply that cannot be
    encoded (over the frame limit) becomes a typed ``reply_too_large`` error;
    a client that does not read its replies (the bounded queue is full) loses
    its connection.
    """

    __slots__ = ("closed", "counters", "encode", "outstanding", "scope", "sender", "who")

    def __init__(
        self,
        sender: FrameSender,
        codec: Codec,
        who: Principal,
        counters: Counter[str],
        scope: trio.CancelScope,
    ) -> None:
        self.sender = sender
        self.who = who
        self.encode = codec.encode
        self.counters = counters
        self.scope = scope
        self.outstanding = 0
        self.closed = False

    def start(self) -> None:
        self.outstanding += 1
        self.counters["requests.outstanding"] += 1

    def send(self, message: Reply | StatusReply, *, took_effect: bool = False) -> None:
        if self.closed:
            return
        try:
            frame = self.encode(message)
        except EncodeError as exc:
            self.counters["replies.unencodable"] += 1
            log.warning("cannot send a %s: %s", type(message).__name__, exc)
            # The request took effect or it did not; only its answer is lost.
            status = ReplyStatus.INDETERMINATE if took_effect else ReplyStatus.FAILED
            frame = self.encode(
                Reply(message.request_id, status, b"", 0, "reply_too_large", str(exc), None)
            )
        if not self.sender.put(prefixed(frame)):
            self.counters["connections.slow_readers"] += 1
            self.scope.cancel()  # it does not read its answers: let it go
            self.closed = True

    def answer(self, reply: Reply, *, took_effect: bool = False) -> None:
        self.outstanding -= 1
        self.counters["requests.outstanding"] -= 1
        self.send(reply, took_effect=took_effect)

    def close(self) -> None:
        """The connection ended: its answers yet to come count no more."""
        self.closed = True
        self.counters["requests.outstanding"] -= self.outstanding
        self.outstanding = 0


def _refusal(request_id: int, code: str, message: str) -> Reply:
    return Reply(request_id, ReplyStatus.FAILED, b"", 0, code, message, None)


@asynccontextmanager
async def open_node(
    config: NodeConfig,
    state_machine: StateMachine,
    *,
    storage: Storage | None = None,
    seed: int | None = None,
) -> AsyncIterator[Node]:
    """Run a node until the block exits.

    ``storage`` defaults to an ``LmdbStorage`` in ``config.data_dir`` (opened
    here and closed on exit). The node listens, dials its peers, ticks and
    serves requests in background tasks; all of them end when the block exits
    (promptly: a write in flight completes first, so that storage is never
    closed under it). ``seed`` seeds the core's randomness (for tests).

    If the node stops by itself - its state machine raised something other
    than ``ApplyError`` (``StateMachineFailed``, naming the entry), or its
    storage failed - the block is cancelled and that error is raised here.

    A node that cannot start raises before the block runs: ``AddressUnavailable``
    (the port is taken, the host not this machine's), ``DataDirectoryError``,
    ``StorageMismatch`` (another cluster's or protocol's state: the first start
    records both in the storage), ``ConfigError``. Errors of the block and of
    the node's tasks come out as themselves, not in an ``ExceptionGroup``
    (``groups.py``; only several at once stay a group).
    """
    own_storage = storage is None
    if storage is None:
        if config.data_dir is None:
            raise ConfigError("open_node needs a storage or a config with data_dir")
        storage = LmdbStorage(
            config.data_dir, cluster_id=config.cluster_id, node_id=config.node_id, sync=config.sync
        )
    try:
        claim_storage(storage, config, str(config.data_dir) if own_storage else repr(storage))
        node = Node(config, state_machine, storage, rng=random.Random(seed))
        try:
            try:
                async with groups.open_nursery() as nursery:
                    await node._start(nursery)
                    try:
                        yield node
                    finally:
                        node._stop()
                        nursery.cancel_scope.cancel()
            except Exception:
                if node.failure is None:
                    raise
                # What the block raised follows from the failure; report the cause.
            if node.failure is not None:
                raise node.failure  # alone, not in a group: it names its cause in one line
        finally:
            node._writer.close()  # writes in flight finish first: storage never closes under one
    finally:
        if own_storage:
            storage.close()
