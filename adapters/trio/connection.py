"""Client connections: many requests in flight on one connection, answered by id.

Used by ``Client`` (``client.py``) and by a node that forwards requests to its
leader. A ``ConnectionPool`` keeps at most one open connection per node and
dials on demand; its connections' tasks live in the nursery it was given.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import trio

from pyconsensus.adapters.cbor import Codec
from pyconsensus.adapters.trio.config import Address, TransportConfig
from pyconsensus.adapters.trio.framing import FrameReader, FrameSender, prefixed
from pyconsensus.adapters.trio.tls import Tls
from pyconsensus.adapters.trio.transport import (
    CONNECTION_ERRORS,
    HandshakeRefused,
    NotSent,
    Stream,
    close,
    dial,
)
from pyconsensus.service.messages import Hello, Welcome

log = logging.getLogger("pyconsensus.trio.client")

__all__ = [
    "ClientConnection",
    "ConnectionLost",
    "ConnectionPool",
    "HandshakeRefused",
    "NotSent",
]


class ConnectionLost(Exception):
    """The request was sent but the connection broke before its answer came."""


class _Pending:
    __slots__ = ("event", "reply")

    def __init__(self) -> None:
        self.event = trio.Event()
        self.reply: Any = None


class ClientConnection:
    """One open, welcomed connection to one node."""

    def __init__(self, stream: Stream, reader: FrameReader, codec: Codec, welcome: Welcome) -> None:
        self.stream = stream
        self.reader = reader
        self.codec = codec
        self.welcome = welcome
        self.sender = FrameSender(1 << 30, 1 << 40)  # bounded by the callers' own concurrency
        self.closed = False
        self._pending: dict[int, _Pending] = {}
        self._next_id = 1

    async def run(self) -> None:
        """Write requests and read answers until the connection ends."""
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._write, nursery.cancel_scope)
                try:
                    await self._read()
                except CONNECTION_ERRORS as exc:
                    log.debug("connection to node %d ended: %r", self.welcome.node_id, exc)
                nursery.cancel_scope.cancel()
        finally:
            self.close()
            await close(self.stream)

    def close(self) -> None:
        """Fail every waiting request (``ConnectionLost``) and stop."""
        self.closed = True
        self.sender.close()
        pending = self._pending
        self._pending = {}
        for waiter in pending.values():
            waiter.event.set()

    async def call(self, build: Callable[[int], object]) -> Any:
        """Send ``build(request_id)`` and wait for the answer with that id."""
        if self.closed:
            raise NotSent(f"connection to node {self.welcome.node_id} is closed")
        request_id = self._next_id
        self._next_id += 1
        frame = self.codec.encode(build(request_id))
        waiter = _Pending()
        self._pending[request_id] = waiter
        self.sender.put(prefixed(frame))
        try:
            await waiter.event.wait()
        finally:
            self._pending.pop(request_id, None)
        if waiter.reply is None:
            raise ConnectionLost(f"connection to node {self.welcome.node_id} lost")
        return waiter.reply

    async def _write(self, scope: trio.CancelScope) -> None:
        try:
            await self.sender.run(self.stream)
        except CONNECTION_ERRORS as exc:
            log.debug("writing to node %d failed: %r", self.welcome.node_id, exc)
        finally:
            scope.cancel()

    async def _read(self) -> None:
        decode = self.codec.decode
        while True:
            for frame in await self.reader.receive():
                reply = decode(frame)
                waiter = self._pending.pop(getattr(reply, "request_id", -1), None)
                if waiter is not None:
                    waiter.reply = reply
                    waiter.event.set()


class ConnectionPool:
    """At most one connection per node, opened on first use."""

    def __init__(
        self,
        addresses: Mapping[int, Address],
        hello: Hello,
        codec: Codec,
        config: TransportConfig,
        nursery: trio.Nursery,
        *,
        tls: Tls | None = None,
    ) -> None:
        self.addresses = dict(addresses)
        self.tls = tls
        self.hello = hello
        self.codec = codec
        self.config = config
        self.nursery = nursery
        self._connections: dict[int, ClientConnection] = {}
        self._connecting: dict[int, trio.Event] = {}
        self._errors: dict[int, NotSent] = {}

    async def get(self, node_id: int) -> ClientConnection:
        """The open connection to ``node_id``, dialling it if needed."""
        while True:
            connection = self._connections.get(node_id)
            if connection is not None and not connection.closed:
                return connection
            pending = self._connecting.get(node_id)
            if pending is None:
                break
            await pending.wait()  # someone else is dialling; use their result
            error = self._errors.get(node_id)
            if error is not None:
                raise NotSent(str(error))
        address = self.addresses.get(node_id)
        if address is None:
            raise NotSent(f"node {node_id} is not a member")
        done = trio.Event()
        self._connecting[node_id] = done
        self._errors.pop(node_id, None)
        try:
            dialled = await dial(
                node_id, address, self.hello, self.codec, self.config, tls=self.tls
            )
        except NotSent as exc:
            self._errors[node_id] = exc
            raise
        finally:
            del self._connecting[node_id]
            done.set()
        connection = ClientConnection(dialled.stream, dialled.reader, self.codec, dialled.welcome)
        self._connections[node_id] = connection
        self.nursery.start_soon(connection.run)
        return connection

    async def call(self, node_id: int, build: Callable[[int], object]) -> Any:
        """Send ``build(request_id)`` to ``node_id`` and return its answer.

        Raises ``NotSent`` (nothing left) or ``ConnectionLost`` (sent, no answer).
        """
        connection = await self.get(node_id)
        return await connection.call(build)

    def close(self) -> None:
        """Close every connection (waiting calls get ``ConnectionLost``)."""
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()
