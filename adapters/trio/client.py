"""A network client of a pyconsensus cluster.

::

    async with open_client({1: "127.0.0.1:7101", 2: ..., 3: ...}, cluster_id="kv") as client:
        answer = await client.propose(kv.put(b"x", b"1"))    # exactly once
        value = await client.read(kv.get(b"x"))              # linearizable

The client talks to any node, follows ``NotLeader`` hints to the leader, and
retries failed or unanswered attempts with the *same* session sequence number,
so a command takes effect at most once however often it is retried. When the
deadline passes it says honestly what it knows: ``Unavailable`` if the command
certainly did not take effect, ``IndeterminateResult`` if it may have.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager

import attrs
import trio

from pyconsensus.adapters.cbor import Codec, default_codec
from pyconsensus.adapters.trio import groups
from pyconsensus.adapters.trio.config import Address, TransportConfig
from pyconsensus.adapters.trio.connection import ConnectionLost, ConnectionPool, NotSent
from pyconsensus.adapters.trio.errors import (
    BUSY_CODES,
    RETRYABLE_CODES,
    IndeterminateResult,
    RequestRejected,
    Unavailable,
    reply_error,
)
from pyconsensus.core.errors import NotLeader
from pyconsensus.rsm.envelope import SessionCommand
from pyconsensus.rsm.sessions import ClientSession
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

_WIDEST = (1 << 64) - 1
"""The widest integer CBOR carries: the ids of the largest possible frame."""
_FRAME_OVERHEAD = 64
"""More than a ``Submit`` frame adds around its payload (header, five fields
at their widest); below it a payload always fits."""


class AttemptState:
    """What one attempt did: ``sent`` is set once the request left (or was
    handed to the local core), after which it may take effect."""

    __slots__ = ("sent",)

    def __init__(self) -> None:
        self.sent = False


Attempt = Callable[[int, "Submit | Query", AttemptState], Awaitable[Reply]]
"""Sends one request to one node and returns its ``Reply``; raises ``NotSent``
or ``ConnectionLost``. The request's ``request_id`` is filled in by the callee,
which sets ``AttemptState.sent`` when the request leaves."""


@attrs.frozen(slots=True)
class RetryPolicy:
    """How a request is retried until its deadline."""

    attempt_timeout: float = 1.0
    """Seconds one attempt may take before the next node is tried."""
    pause: float = 0.02
    """Seconds to wait before retrying when no leader is known."""
    follow_hints: bool = True
    """Retry at the node a ``NotLeader`` names (False: give up with it)."""
    busy_backoff: float = 0.5
    """Longest wait before retrying at a node that answered ``busy``; the wait
    doubles from ``pause`` per busy answer, half of it random."""


class RequestRunner:
    """The retry loop shared by ``Client`` and a node's own ``propose``/``read``.

    Keeps a guess of the leader across requests.
    """

    def __init__(
        self, nodes: Sequence[int], attempt: Attempt, policy: RetryPolicy, rng: random.Random
    ) -> None:
        self.nodes = list(nodes)
        self.attempt = attempt
        self.policy = policy
        self.rng = rng
        self.leader: int | None = None

    async def run(self, request: Submit | Query, deadline: float) -> Reply:
        """The first ``OK`` reply; raises ``NotLeader`` (hints not followed),
        ``RequestRejected``, ``Unavailable`` or ``IndeterminateResult``."""
        is_command = isinstance(request, Submit)
        maybe_applied = False
        last_problem = "no node could be tried"
        target = self.leader
        tried: set[int] = set()
        busy = 0
        while trio.current_time() < deadline:
            node = target if target is not None else self._pick(tried)
            tried.add(node)
            target = None
            attempt = AttemptState()
            reply: Reply | None = None
            problem: Exception | None = None
            timeout = min(self.policy.attempt_timeout, deadline - trio.current_time())
            with trio.move_on_after(timeout):
                try:
                    reply = await self.attempt(node, request, attempt)
                except (NotSent, ConnectionLost) as exc:
                    problem = exc
            if reply is None:
                # The attempt failed or timed out; if the request had left,
                # it may be applied (or still be, later).
                maybe_applied = maybe_applied or (is_command and attempt.sent)
                if problem is None:
                    problem = TimeoutError(f"node {node} did not answer within {timeout:.2f} s")
                last_problem = str(problem)
                if self.leader == node:
                    self.leader = None
                if isinstance(problem, NotSent):
                    await self._pause(tried, deadline)
                continue
            if reply.status == ReplyStatus.OK:
                hint = reply.leader_hint
                self.leader = hint if hint in self.nodes else node
                return reply
            error = reply_error(reply)
            last_problem = f"node {node}: {error}"
            if reply.status == ReplyStatus.INDETERMINATE:
                maybe_applied = maybe_applied or is_command
                await self._pause(tried, deadline)
                continue
            if reply.error == "not_leader":
                hint = reply.leader_hint
                if not self.policy.follow_hints:
                    raise NotLeader(hint)
                if hint is not None and hint != node and hint in self.nodes:
                    target = self.leader = hint
                    continue
                self.leader = None
                await self._pause(tried, deadline)
                continue
            if reply.error in BUSY_CODES:
                # A well node with too much to do: come back to it, later.
                target = node
                await self._back_off(busy, deadline)
                busy += 1
                continue
            if reply.error in RETRYABLE_CODES:
                await self._pause(tried, deadline)
                continue
            raise RequestRejected(reply.error, reply.message)
        if maybe_applied:
            raise IndeterminateResult(
                f"no answer before the deadline; the command may or may not have taken effect "
                f"(last: {last_problem})",
                last_problem,
            )
        raise Unavailable(f"no node took the request before the deadline (last: {last_problem})")

    def _pick(self, tried: set[int]) -> int:
        fresh = [n for n in self.nodes if n not in tried]
        if not fresh:
            tried.clear()
            fresh = self.nodes
        return self.rng.choice(fresh)

    async def _back_off(self, busy: int, deadline: float) -> None:
        policy = self.policy
        delay = min(policy.busy_backoff, policy.pause * 2.0 ** min(busy, 30))
        delay = delay / 2 + self.rng.uniform(0, delay / 2)
        await trio.sleep(min(delay, max(0.0, deadline - trio.current_time())))

    async def _pause(self, tried: set[int], deadline: float) -> None:
        # Only wait once every node was tried: a dead node should not slow
        # the switch to a live one.
        if len(tried) >= len(self.nodes):
            await trio.sleep(min(self.policy.pause, max(0.0, deadline - trio.current_time())))


def check_size(codec: Codec, payload: bytes) -> None:
    """Raise ``EncodeError`` for a command too large to send *before* it
    takes a sequence number: a number that never reached the cluster would
    make a new session look expired to it."""
    if len(payload) + _FRAME_OVERHEAD <= codec.limits.max_frame_bytes:
        return
    codec.encode(Submit(_WIDEST, _WIDEST, _WIDEST, _WIDEST, payload, False))


def new_client_id(rng: random.Random | None = None) -> int:
    """A random session id (63 bits: collisions are negligible)."""
    if rng is not None:
        return rng.getrandbits(63)
    return secrets.randbits(63)


class Client:
    """A session with a cluster (see the module docstring). Build it with
    ``open_client``. Safe to use from many tasks at once: each request gets its
    own sequence number in the one session."""

    def __init__(
        self,
        pool: ConnectionPool,
        nodes: Sequence[int],
        *,
        timeout: float,
        policy: RetryPolicy,
        client_id: int,
        rng: random.Random,
    ) -> None:
        self.pool = pool
        self.timeout = timeout
        self.session = ClientSession(client_id)
        self.runner = RequestRunner(nodes, self._attempt, policy, rng)

    @property
    def client_id(self) -> int:
        return self.session.client_id

    def new_session(self, client_id: int | None = None) -> Client:
        """Another client with a session of its own that shares this one's
        connections (many logical clients over few TCP connections, as a load
        generator or an application server would have them)."""
        other = Client(
            self.pool,
            self.runner.nodes,
            timeout=self.timeout,
            policy=self.runner.policy,
            client_id=client_id if client_id is not None else new_client_id(),
            rng=random.Random(self.runner.rng.getrandbits(64)),
        )
        other.runner.leader = self.runner.leader
        return other

    @property
    def leader(self) -> int | None:
        """The node this client believes leads (its next target)."""
        return self.runner.leader

    async def propose(self, command: bytes, *, timeout: float | None = None) -> bytes:
        """Apply ``command`` exactly once and return the state machine's answer.

        Raises ``Unavailable`` (it did not take effect), ``IndeterminateResult``
        (it may have; retrying in this session is safe), ``RequestRejected``
        (refused for good: ``code`` says why) or ``EncodeError`` (the command
        does not fit in a frame, ``TransportConfig.max_frame_bytes``: it was
        never sent, and used no sequence number of the session).
        """
        self._check_size(command)
        reply = await self.submit(self.session.next(command), timeout=timeout)
        return reply.result

    def _check_size(self, payload: bytes) -> None:
        check_size(self.pool.codec, payload)

    async def submit(self, command: SessionCommand, *, timeout: float | None = None) -> Reply:
        """Run a session command (from ``self.session.next``) to its end; the
        ``Reply`` carries the result and the index it committed at. The
        command's sequence number is settled whatever happens."""
        deadline = trio.current_time() + (self.timeout if timeout is None else timeout)
        try:
            request = Submit(
                0,
                command.client_id,
                command.seq,
                self.session.envelope(command).first_unacked,
                command.payload,
                False,
            )
            return await self.runner.run(request, deadline)
        finally:
            self.session.settle(command.seq)

    async def read(self, query: bytes, *, timeout: float | None = None) -> bytes:
        """A linearizable read: the answer reflects every command acknowledged
        before the read began. Raises ``Unavailable``, ``RequestRejected`` or
        ``EncodeError`` (a query too large to send) as ``propose`` does."""
        deadline = trio.current_time() + (self.timeout if timeout is None else timeout)
        reply = await self.runner.run(Query(0, query, False), deadline)
        return reply.result

    async def status(self, node_id: int, *, detail: int = 0) -> StatusReply:
        """Ask one node about itself (``detail``: see ``StatusRequest``)."""
        with trio.fail_after(self.timeout):
            reply = await self.pool.call(node_id, lambda rid: StatusRequest(rid, detail))
        if not isinstance(reply, StatusReply):
            raise ConnectionLost(f"node {node_id} answered a status request with {reply!r}")
        return reply

    async def _attempt(self, node: int, request: Submit | Query, state: AttemptState) -> Reply:
        connection = await self.pool.get(node)
        state.sent = True
        reply = await connection.call(lambda rid: attrs.evolve(request, request_id=rid))
        if not isinstance(reply, Reply):
            raise ConnectionLost(f"node {node} answered with {type(reply).__name__}")
        return reply


@asynccontextmanager
async def open_client(
    members: Mapping[int, Address | str],
    cluster_id: str,
    *,
    timeout: float = 5.0,
    attempt_timeout: float = 1.0,
    client_id: int | None = None,
    protocol: str = "",
    codec: Codec | None = None,
    transport: TransportConfig | None = None,
    seed: int | None = None,
) -> AsyncIterator[Client]:
    """A ``Client`` of the cluster whose nodes listen at ``members``.

    ``timeout`` is the default deadline of a request (retries included),
    ``attempt_timeout`` how long one node may take before the next is tried.
    ``client_id`` names the session (random by default; reuse one only if no
    other client uses it). Connections close when the block exits.
    """
    addresses = {
        int(n): a if isinstance(a, Address) else Address.parse(a) for n, a in members.items()
    }
    rng = random.Random(seed)
    hello = Hello(cluster_id, ConnectionKind.CLIENT, None, protocol, WIRE_VERSION)
    async with groups.open_nursery() as nursery:
        pool = ConnectionPool(
            addresses,
            hello,
            codec if codec is not None else default_codec(),
            transport if transport is not None else TransportConfig(),
            nursery,
        )
        client = Client(
            pool,
            sorted(addresses),
            timeout=timeout,
            policy=RetryPolicy(attempt_timeout=attempt_timeout),
            client_id=client_id if client_id is not None else new_client_id(),
            rng=rng,
        )
        try:
            yield client
        finally:
            pool.close()
