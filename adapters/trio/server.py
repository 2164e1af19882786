"""The listening side: accept connections, check the handshake, and read.

Every connection starts with a ``Hello``. The server refuses - with a
``Refused`` frame carrying the reason, a warning in the log and a counter - a
different cluster id, wire version or protocol, an unknown or impersonated
node id, and anything that is not a ``Hello``. A frame over the size limit or
one that does not decode closes its connection (counted in
``frames.oversized`` / ``frames.undecodable``); the node keeps running.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

import trio

from pyconsensus.adapters.cbor import Codec, DecodeError
from pyconsensus.adapters.trio.config import NodeConfig
from pyconsensus.adapters.trio.framing import FrameReader, FrameTooLarge, prefixed
from pyconsensus.adapters.trio.transport import Stream, close, listen, remote
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

    async def serve_client(self, stream: Stream, reader: FrameReader) -> None:
        """Serve a client connection after its handshake."""
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
    ) -> None:
        self.config = config
        self.handler = handler
        self.codec = codec
        self.counters = counters
        self.service_types = service_types
        self.isolated = False
        self.port: int | None = None
        self._peer_scopes: dict[trio.CancelScope, int] = {}

    async def run(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen on the node's address; reports the bound port once listening."""
        async with trio.open_nursery() as nursery:
            self.port = await nursery.start(listen, self.config.address, self._handle)
            task_status.started(self.port)

    def isolate(self, isolated: bool) -> None:
        """While isolated, refuse peers' handshakes and drop their connections."""
        self.isolated = isolated
        if isolated:
            for scope in list(self._peer_scopes):
                scope.cancel()

    def drop_peer(self, peer_id: int) -> None:
        """Close the connections ``peer_id`` dialled (it is no longer a peer)."""
        for scope, owner in list(self._peer_scopes.items()):
            if owner == peer_id:
                scope.cancel()

    async def _handle(self, stream: Stream) -> None:
        self.counters["connections.accepted"] += 1
        reader = FrameReader(stream, self.config.transport.max_frame_bytes)
        where = remote(stream)
        try:
            with trio.fail_after(self.config.transport.handshake_timeout_s):
                first = self.codec.decode(await reader.receive_one())
            if not isinstance(first, Hello):
                await self._refuse(stream, where, f"expected a Hello, got {type(first).__name__}")
                return
            reason = self._check(first)
            if reason is not None:
                await self._refuse(stream, where, reason)
                return
            welcome = Welcome(self.config.node_id, self.config.protocol, self.handler.leader_hint())
            await stream.send_all(prefixed(self.codec.encode(welcome)))
            if first.kind == ConnectionKind.PEER:
                assert first.node_id is not None
                await self._serve_peer(first.node_id, reader)
            else:
                self.counters["connections.clients"] += 1
                await self.handler.serve_client(stream, reader)
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
            await close(stream)

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
        return None

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
            self._peer_scopes[scope] = peer_id
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
                self._peer_scopes.pop(scope, None)


def _from(message: object, peer_id: int) -> bool:
    return getattr(message, "src", None) == peer_id
