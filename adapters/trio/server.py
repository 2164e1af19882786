"""The listening side: accept connections, check the handshake, and read.

Every connection starts with a ``Hello``. The server refuses - with a
``Refused`` frame carrying the reason, a warning in the log and a counter - a
different cluster id, wire version or protocol, an unknown or impersonated
node id, and anything that is not a ``Hello``. With TLS, the dialler's
certificate must name it (``identity.py``): a peer only in its own member id
(anything else is counted in ``handshake.impersonation``), a client as a
client of this cluster or as a current member. A frame over the size limit or
one that does not decode closes its connection (counted in
``frames.oversized`` / ``frames.undecodable``); the node keeps running.

Limits (``TransportConfig``, docs/security.md): connections beyond
``max_connections`` in all or ``max_connections_per_address`` from one IP are
refused at once; the first frame may be at most ``handshake_frame_bytes``; a
member has at most one live connection - a newer completed handshake in its
name replaces the older one. Whatever else one connection's handling raises
ends that connection only: counted in ``connections.failed`` and logged in one
line.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

import trio

from pyconsensus.adapters.cbor import Codec, DecodeError
from pyconsensus.adapters.trio.config import NodeConfig
from pyconsensus.adapters.trio.framing import FrameReader, FrameTooLarge, ReceiveBudget, prefixed
from pyconsensus.adapters.trio.identity import ANONYMOUS, IdentityError, Principal
from pyconsensus.adapters.trio.tls import Tls, principal
from pyconsensus.adapters.trio.transport import Stream, close, describe, listen, remote
from pyconsensus.service.messages import (
    WIRE_VERSION,
    ConnectionKind,
    Hello,
    Refused,
    Welcome,
)

log = logging.getLogger("pyconsensus.trio.server")


class Handler(Protocol):
    """What the server needs from the node."""

    def deliver(self, messages: Sequence[object]) -> None:
        """Hand decoded protocol messages from a peer to the core."""
        ...

    def leader_hint(self) -> int | None:
        """Who this node believes leads (for the ``Welcome``)."""
        ...

    def is_peer(self, node_id: int) -> bool:
        """Whether ``node_id`` is one of this node's peers now."""
        ...

    def identity_problem(self, node_id: int, incarnation: str) -> str | None:
        """Why the peer ``node_id`` showing storage ``incarnation`` is refused
        (the configuration records another: its data was wiped), or None."""
        ...

    async def serve_client(self, stream: Stream, reader: FrameReader, who: Principal) -> None:
        """Serve a client connection after its handshake (``who``: its identity)."""
        ...


class Server:
    """Accepts peer and client connections for one node."""

    def __init__(
        self,
        config: NodeConfig,
        handler: Handler,
        codec: Codec,
        counters: Counter[str],
        service_types: tuple[type, ...],
        *,
        tls: Tls | None = None,
    ) -> None:
        self.config = config
        self.tls = tls
        self.handler = handler
        self.codec = codec
        self.counters = counters
        self.service_types = service_types
        self.isolated = False
        self.port: int | None = None
        self._peers: dict[int, trio.CancelScope] = {}  # the live connection of each member
        self._open: Counter[str] = Counter()  # open connections by remote host
        self._refusing = False  # the last connection was refused for a limit
        self.budget = ReceiveBudget(config.transport.receive_budget_bytes)

    async def run(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen on the node's address; reports the bound port once listening."""
        async with trio.open_nursery() as nursery:
            serve = functools.partial(
                listen,
                self.config.address,
                self._handle,
                tls=self.tls,
                handshake_timeout=self.config.transport.handshake_timeout_s,
            )
            self.port = await nursery.start(serve)
            task_status.started(self.port)

    def isolate(self, isolated: bool) -> None:
        """While isolated, refuse peers' handshakes and drop their connections."""
        self.isolated = isolated
        if isolated:
            for scope in list(self._peers.values()):
                scope.cancel()

    def drop_peer(self, peer_id: int) -> None:
        """Close the connection ``peer_id`` dialled (it is no longer a peer)."""
        scope = self._peers.get(peer_id)
        if scope is not None:
            scope.cancel()

    def connections_from(self, host: str) -> int:
        """Open connections from ``host`` (an IP address)."""
        return self._open[host]

    async def _handle(self, stream: Stream) -> None:
        self.counters["connections.accepted"] += 1
        where = remote(stream)
        host = where.rpartition(":")[0]
        limits = self.config.transport
        if sum(self._open.values()) >= limits.max_connections:
            await self._refuse_over_limit(stream, where, f"{limits.max_connections} connections")
            return
        if self._open[host] >= limits.max_connections_per_address:
            reason = f"{limits.max_connections_per_address} connections from {host}"
            await self._refuse_over_limit(stream, where, reason)
            return
        self._open[host] += 1
        self._refusing = False
        try:
            await self._serve(stream, where)
        except Exception as exc:  # a bug or an input nobody foresaw: this connection only
            self.counters["connections.failed"] += 1
            log.error("closed the connection from %s after an error: %s", where, _one_line(exc))
        finally:
            self._open[host] -= 1
            if not self._open[host]:
                del self._open[host]
            await close(stream)

    async def _refuse_over_limit(self, stream: Stream, where: str, limit: str) -> None:
        self.counters["connections.refused"] += 1
        # A flood would repeat this line thousands of times: once loud, then quiet.
        level = logging.DEBUG if self._refusing else logging.WARNING
        log.log(level, "refused a connection from %s: at the limit of %s", where, limit)
        self._refusing = True
        with trio.move_on_after(0.1):  # a courtesy to a real client; floods get no more
            await stream.send_all(
                prefixed(self.codec.encode(Refused(f"too many connections ({limit})")))
            )
        await close(stream)

    async def _serve(self, stream: Stream, where: str) -> None:
        limits = self.config.transport
        reader = FrameReader(stream, limits.handshake_frame_bytes, self.budget)
        try:
            with trio.fail_after(limits.handshake_timeout_s):
                first = self.codec.decode(await reader.receive_one())
            if not isinstance(first, Hello):
                await self._refuse(stream, where, f"expected a Hello, got {type(first).__name__}")
                return
            who, reason = self._identify(stream, first)
            reason = reason or self._check(first)
            if reason is not None:
                await self._refuse(stream, where, reason)
                return
            welcome = Welcome(self.config.node_id, self.config.protocol, self.handler.leader_hint())
            await stream.send_all(prefixed(self.codec.encode(welcome)))
            reader.max_frame_bytes = limits.max_frame_bytes
            if first.kind == ConnectionKind.PEER:
                assert first.node_id is not None
                await self._serve_peer(first.node_id, reader)
            else:
                self.counters["connections.clients"] += 1
                await self.handler.serve_client(stream, reader, who)
        except FrameTooLarge as exc:
            self.counters["frames.oversized"] += 1
            log.warning("closing the connection from %s: %s", where, exc)
        except DecodeError as exc:
            self.counters["frames.undecodable"] += 1
            log.warning("closing the connection from %s: undecodable frame: %s", where, exc)
        except trio.TooSlowError:
            self.counters["handshake.timeout"] += 1
            log.warning("closing the connection from %s: no handshake in time", where)
        except (EOFError, OSError, trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            reader.release()

    def _check(self, hello: Hello) -> str | None:
        """Why ``hello`` is refused, or None."""
        config = self.config
        if hello.wire_version != WIRE_VERSION:
            return (
                f"wire version {hello.wire_version} is not supported (this node speaks "
                f"{WIRE_VERSION}); run the same pyconsensus version on every node"
            )
        if hello.cluster_id != config.cluster_id:
            return f"cluster id {hello.cluster_id!r} is not this cluster ({config.cluster_id!r})"
        if hello.protocol and hello.protocol != config.protocol:
            return f"protocol {hello.protocol!r} differs from this node's ({config.protocol!r})"
        if hello.kind == ConnectionKind.PEER:
            if hello.node_id == config.node_id:
                return f"node {hello.node_id} is this node itself (duplicate node id?)"
            if hello.node_id is None or not self.handler.is_peer(hello.node_id):
                return f"node {hello.node_id} is not a member"
            if self.isolated:
                return "this node is isolated (fault injection)"
            return self.handler.identity_problem(hello.node_id, hello.incarnation)
        return None

    def _identify(self, stream: Stream, hello: Hello) -> tuple[Principal, str | None]:
        """Who the dialler is by its certificate, and why that refuses
        ``hello`` (None: it does not)."""
        try:
            who = principal(stream, self.config.cluster_id)
        except IdentityError as exc:
            self.counters["handshake.bad_identity"] += 1
            return ANONYMOUS, f"certificate: {exc}"
        if who.is_anonymous:
            return who, None  # plaintext
        if hello.kind == ConnectionKind.PEER and who.member_id != hello.node_id:
            self.counters["handshake.impersonation"] += 1
            return who, f"the certificate names {who}, not member {hello.node_id}"
        member = who.member_id
        if (
            member is not None
            and member != self.config.node_id
            and not self.handler.is_peer(member)
        ):
            return who, f"{who} is not a member now"
        return who, None

    async def _refuse(self, stream: Stream, where: str, reason: str) -> None:
        self.counters["handshake.refused"] += 1
        log.warning("refused a connection from %s: %s", where, reason)
        with trio.move_on_after(1):
            await stream.send_all(prefixed(self.codec.encode(Refused(reason))))

    async def _serve_peer(self, peer_id: int, reader: FrameReader) -> None:
        decode = self.codec.decode
        deliver = self.handler.deliver
        service_types = self.service_types
        counters = self.counters
        bytes_in = f"peer.{peer_id}.bytes_in"
        with trio.CancelScope() as scope:
            older = self._peers.get(peer_id)
            if older is not None:
                # One live connection per member: the newer handshake wins (a
                # restarted peer redials before its old connection times out).
                self.counters["connections.replaced"] += 1
                log.info("node %d connected again: its older connection is closed", peer_id)
                older.cancel()
            self._peers[peer_id] = scope
            try:
                while True:
                    frames = await reader.receive()
                    messages = []
                    for frame in frames:
                        message = decode(frame)
                        if isinstance(message, service_types) or not _from(message, peer_id):
                            # Protocol messages only, and only in the dialler's own name.
                            counters["frames.unexpected"] += 1
                            continue
                        messages.append(message)
                    counters["frames.received"] += len(frames)
                    counters[bytes_in] += sum(map(len, frames)) + 4 * len(frames)
                    deliver(messages)
            finally:
                if self._peers.get(peer_id) is scope:
                    del self._peers[peer_id]


def _one_line(exc: BaseException) -> str:
    """``describe`` of the first leaf of an exception group (a nursery's wrapping)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return describe(exc).replace("\n", " ")


def _from(message: object, peer_id: int) -> bool:
    return getattr(message, "src", None) == peer_id
