"""The trio runtime: one consensus node, its state machine, storage and network.

::

    async with open_node(config, MyStateMachine()) as node:
        result = await node.propose(b"command")     # applied exactly once
        answer = await node.read(b"query")          # linearizable
        print(node.status())

The driver loop runs any core under the shared contract (Raft, ZAB,
Multi-Paxos). Events - ticks from a timer, messages from peers, client
requests - go straight into the core as they arrive. One task, the pump,
carries out the core's ``Ready`` batches strictly in order: the messages that
may leave before the write (``Ready.early_messages``), the durable write (in
the event loop or in a worker thread: ``NodeConfig.storage_writes``), then the
other messages, then ``ReplicatedStateMachine.handle`` (apply, answer). While
a write is in flight, new events pile up (in the core, or in the kernel's
socket buffers while an inline write holds the loop) and come out as the next
batch: many proposals share one fsync (group commit). Frames are written
straight into the sockets at the end of each batch and before each write
(``framing.Flusher``), not by waking a writer task per frame.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio

from pyconsensus.adapters.cbor import Codec, EncodeError, Limits, default_codec
from pyconsensus.adapters.cbor.tags import all_types
from pyconsensus.adapters.lmdb import LmdbStorage
from pyconsensus.adapters.trio.client import (
    AttemptState,
    RequestRunner,
    RetryPolicy,
    new_client_id,
)
from pyconsensus.adapters.trio.config import NodeConfig
from pyconsensus.adapters.trio.connection import ConnectionLost, ConnectionPool, NotSent
from pyconsensus.adapters.trio.errors import IndeterminateResult, NodeStopped, outcome_to_reply
from pyconsensus.adapters.trio.framing import (
    PREFIX,
    Flusher,
    FrameReader,
    FrameSender,
    prefixed,
)
from pyconsensus.adapters.trio.peers import PeerLink
from pyconsensus.adapters.trio.server import Server
from pyconsensus.adapters.trio.writer import StorageWriter
from pyconsensus.core.errors import ConfigError, NotLeader
from pyconsensus.core.node import ConsensusNode, PipelinedNode, pipelined
from pyconsensus.core.ready import Ready
from pyconsensus.core.storage import Storage
from pyconsensus.core.types import Role
from pyconsensus.protocols import Protocol as ProtocolSpec
from pyconsensus.protocols import get_protocol
from pyconsensus.rsm import ReplicatedStateMachine, SessionCommand, StateMachine
from pyconsensus.rsm.replicated import Failed, Outcome
from pyconsensus.rsm.sessions import ClientSession
from pyconsensus.service import messages as service
from pyconsensus.service.messages import (
    WIRE_VERSION,
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
    """The highest log index known to be replicated there (leaders of
    protocols that track it, i.e. Raft); ``None`` otherwise."""
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
            config.node_id, sorted(config.members), storage, self.rng
        )
        self.rsm = ReplicatedStateMachine(
            self.core,
            machine,
            compact_every=config.compact_every,
            session_timeout_ms=round(config.session_timeout * 1000),
        )
        self.counters: Counter[str] = Counter()
        self.session = ClientSession(new_client_id(self.rng))
        self._woken = False
        self._lot = trio.lowlevel.ParkingLot()
        self.flusher = Flusher(self._wake)
        hello = Hello(
            config.cluster_id, ConnectionKind.PEER, config.node_id, config.protocol, WIRE_VERSION
        )
        self.links = {
            peer: PeerLink(
                peer,
                address,
                hello=hello,
                codec=codec,
                config=config.transport,
                counters=self.counters,
                rng=self.rng,
                flusher=self.flusher,
            )
            for peer, address in config.peers.items()
        }
        self.server = Server(config, self, codec, self.counters, SERVICE_TYPES)
        self.port: int | None = None
        self.batches = 0
        self.writes = 0
        self.stopping = False
        self._waiters: dict[int, Callable[[Outcome | None], None]] = {}
        self._writer = StorageWriter(storage, f"pyconsensus-storage-{config.node_id}")
        self._nursery: trio.Nursery | None = None
        self._pool: ConnectionPool | None = None
        self._runner: RequestRunner | None = None

    @property
    def node_id(self) -> int:
        return self.config.node_id

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
        """
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
        progress = getattr(self.core, "progress", None)
        peers = []
        for peer, link in sorted(self.links.items()):
            match = None
            if core.role is Role.LEADER and isinstance(progress, dict) and peer in progress:
                match = getattr(progress[peer], "match", None)
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

    def isolate(self, isolated: bool = True) -> None:
        """Fault injection for tests and demos: cut (or restore) every peer
        connection - outgoing ones stop, incoming handshakes are refused.
        Clients can still connect."""
        log.warning("node %d %s", self.node_id, "isolated" if isolated else "rejoins")
        self.server.isolate(isolated)
        for link in self.links.values():
            link.isolate(isolated)

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
            self.config.members, hello, self.codec, self.config.transport, nursery
        )
        nodes = sorted(self.config.members) if self.config.forward else [self.node_id]
        policy = RetryPolicy(
            attempt_timeout=self.config.request_timeout, follow_hints=self.config.forward
        )
        self._runner = RequestRunner(nodes, self._attempt, policy, self.rng)
        self._runner.leader = self.node_id
        nursery.start_soon(self._pump)
        self.port = await nursery.start(self.server.run)
        for link in self.links.values():
            nursery.start_soon(link.run)
        nursery.start_soon(self._ticker)
        log.info(
            "node %d (%s) listening on %s:%s",
            self.node_id,
            self.config.protocol,
            self.config.address.host,
            self.port,
        )

    def _stop(self) -> None:
        """Refuse new requests and release every waiter (their requests are
        indeterminate: they may still commit elsewhere)."""
        self.stopping = True
        waiters = self._waiters
        self._waiters = {}
        for waiter in waiters.values():
            waiter(None)
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
            self._lot.unpark_all()

    async def _ticker(self) -> None:
        interval = self.config.tick_interval
        deadline = trio.current_time()
        while True:
            deadline += interval
            now = trio.current_time()
            deadline = max(deadline, now)  # late (a busy loop): skip the missed ticks, do not burst
            await trio.sleep_until(deadline)
            self.core.tick()
            self._wake()

    async def _pump(self) -> None:
        core = self.core
        storage = self.storage
        writer = self._writer
        flush = self.flusher.flush
        mode = self.config.storage_writes
        # A PipelinedNode: commits and replies do not wait for the batch's write,
        # and the core learns of each write's durability (persisted).
        early_apply = pipelined(core)
        persisted = core.persisted if isinstance(core, PipelinedNode) else None
        while True:
            if not self._woken:
                await self._lot.park()
            self._woken = False
            while core.has_ready():
                ready = core.ready()
                self.batches += 1
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
                    if mode == "inline" or (mode == "auto" and not ready.early_messages):
                        storage.write(write)
                    else:
                        await writer.write(write)
                    if early_apply and persisted is not None:
                        persisted(write)
                if ready.messages:
                    self._send(ready.messages)
                if not early_apply:
                    self._apply(ready)
            flush()

    def _apply(self, ready: Ready) -> None:
        """Restore, apply and answer (``ReplicatedStateMachine.handle``)."""
        outcomes = self.rsm.handle(ready)
        if outcomes:
            waiters = self._waiters
            for outcome in outcomes:
                waiter = waiters.pop(outcome.request_id, None)
                if waiter is not None:
                    waiter(outcome)

    def _send(self, messages: Sequence[Any]) -> None:
        encode = self.codec.encode
        links = self.links
        pack = PREFIX.pack
        for message in messages:
            link = links.get(message.dst)
            if link is None:
                self.counters["send.unknown_destination"] += 1
                continue
            try:
                frame = encode(message)
            except EncodeError as exc:
                self.counters["send.unencodable"] += 1
                log.error(
                    "cannot send %s to node %d: %s", type(message).__name__, link.peer_id, exc
                )
                continue
            link.send(pack(len(frame)) + frame)

    # ------------------------------------------------------------------
    # Requests: one attempt here, or at another node

    def _submit_here(self, request: Submit | Query, done: Callable[[Outcome | None], None]) -> None:
        """Hand ``request`` to the core; ``done`` gets its outcome (``None`` if
        the node stops first). Raises ``ValueError`` for bad session numbers."""
        if isinstance(request, Submit):
            rid = self.rsm.submit(
                SessionCommand(
                    request.client_id, request.seq, request.payload, request.first_unacked
                ),
                now_ms=time.time_ns() // 1_000_000,  # stamped only if sessions expire by time
            )
        else:
            rid = self.rsm.query(request.payload)
        self._waiters[rid] = done
        self._wake()

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
        try:
            self._submit_here(request, waiter)
        except ValueError as exc:
            return Reply(0, ReplyStatus.FAILED, b"", 0, "bad_request", str(exc), None)
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

    async def serve_client(self, stream: trio.SocketStream, reader: FrameReader) -> None:
        transport = self.config.transport
        sender = FrameSender(
            transport.max_client_requests, transport.send_queue_bytes, self.flusher
        )
        connection = _ClientState(sender, self.codec)
        error: BaseException | None = None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._write_replies, sender, stream, nursery.cancel_scope)
            try:
                await self._read_requests(reader, connection)
            except BaseException as exc:  # re-raised below, outside the nursery's group
                if isinstance(exc, trio.Cancelled | KeyboardInterrupt | SystemExit):
                    raise
                error = exc
            finally:
                connection.closed = True
                sender.close()
                nursery.cancel_scope.cancel()
        if error is not None:
            raise error

    async def _write_replies(
        self, sender: FrameSender, stream: trio.SocketStream, scope: trio.CancelScope
    ) -> None:
        try:
            await sender.run(stream)
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            scope.cancel()

    async def _read_requests(self, reader: FrameReader, connection: _ClientState) -> None:
        decode = self.codec.decode
        limit = self.config.transport.max_client_requests
        while True:
            for frame in await reader.receive():
                request = decode(frame)
                if isinstance(request, Submit | Query):
                    if self.stopping:
                        connection.send(_refusal(request.request_id, "stopping", "node stopping"))
                    elif connection.outstanding >= limit:
                        self.counters["requests.overloaded"] += 1
                        connection.send(
                            _refusal(request.request_id, "overloaded", "too many requests")
                        )
                    else:
                        self._serve_request(request, connection)
                elif isinstance(request, StatusRequest):
                    connection.send(self._status_reply(request))
                else:
                    self.counters["frames.unexpected"] += 1

    def _serve_request(self, request: Submit | Query, connection: _ClientState) -> None:
        connection.outstanding += 1
        self.counters["requests.served"] += 1

        def done(outcome: Outcome | None) -> None:
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
            connection.answer(outcome_to_reply(outcome, request.request_id))

        try:
            self._submit_here(request, done)
        except ValueError as exc:
            connection.answer(_refusal(request.request_id, "bad_request", str(exc)))

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
        connection.answer(attrs.evolve(reply, request_id=request.request_id))

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
    """One client connection as the node serves it."""

    __slots__ = ("closed", "encode", "outstanding", "sender")

    def __init__(self, sender: FrameSender, codec: Codec) -> None:
        self.sender = sender
        self.encode = codec.encode
        self.outstanding = 0
        self.closed = False

    def send(self, message: object) -> None:
        if not self.closed:
            self.sender.put(prefixed(self.encode(message)))

    def answer(self, reply: Reply) -> None:
        self.outstanding -= 1
        self.send(reply)


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
    """
    own_storage = storage is None
    if storage is None:
        if config.data_dir is None:
            raise ConfigError("open_node needs a storage or a config with data_dir")
        storage = LmdbStorage(
            config.data_dir, cluster_id=config.cluster_id, node_id=config.node_id, sync=config.sync
        )
    try:
        node = Node(config, state_machine, storage, rng=random.Random(seed))
        try:
            async with trio.open_nursery() as nursery:
                await node._start(nursery)
                try:
                    yield node
                finally:
                    node._stop()
                    nursery.cancel_scope.cancel()
        finally:
            node._writer.close()  # no write is in flight: the pump waits for its writes
    finally:
        if own_storage:
            storage.close()
