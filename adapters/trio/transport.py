"""Byte streams: the one place where connections are opened, accepted and closed.

Every connection of the runtime goes through here: a node dialling a peer
(``peers.PeerLink``), a client or a forwarding node dialling a node
(``connection.ConnectionPool``) - both with ``dial``, which connects and performs the
dialler's side of the handshake - and a node accepting either (``listen``,
used by ``server.Server``). Wrapping a stream in TLS (``tls.py``) therefore
happens in ``dial`` and ``listen`` and nowhere else; the identity a
certificate names is checked by the dialler here and by the server's
handshake (``server.py``). ``direct_write`` gives the
eager sender (``framing.FrameSender``) a way to write frames straight into
the connection from the driver loop: the socket of a plain TCP stream, or
``TlsSocketStream.send_nowait``, which encrypts and writes in one call.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Awaitable, Callable

import attrs
import trio

from pyconsensus.adapters.cbor import Codec, DecodeError
from pyconsensus.adapters.trio.config import Address, TransportConfig
from pyconsensus.adapters.trio.framing import DirectWrite, FrameError, FrameReader, prefixed
from pyconsensus.adapters.trio.identity import IdentityError
from pyconsensus.adapters.trio.startup import AddressUnavailable, os_reason
from pyconsensus.adapters.trio.tls import Tls, principal, serving_tls
from pyconsensus.adapters.trio.tlsstream import TlsSocketStream
from pyconsensus.service.messages import Hello, Refused, Welcome

Stream = trio.abc.Stream
"""What a connection is once open: bytes both ways."""

CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    EOFError,
    trio.BrokenResourceError,
    trio.ClosedResourceError,
    trio.TooSlowError,
    FrameError,
    DecodeError,
)
"""What ends one connection (and only that connection)."""


class NotSent(Exception):
    """The request never left: no connection could be made (or it was refused)."""


class HandshakeRefused(NotSent):
    """The node refused the handshake (wrong cluster id, protocol, version), or
    someone else answered at its address. ``reason`` is ``"refused"``,
    ``"wrong_node"`` or ``"unexpected"``."""

    def __init__(self, message: str, reason: str = "refused") -> None:
        # More precise kinds of "refused": "not_member" (the node does not
        # count us as a member), "wrong_incarnation" (our storage is not the
        # one the configuration records).
        self.reason = reason
        super().__init__(message)


REJOIN_HINT = "re-add/replace this node through a membership change"
"""Ends a refusal for a wiped (new) incarnation; ``refusal_kind`` looks for it."""


def refusal_kind(reason: str) -> str:
    """The ``HandshakeRefused.reason`` of a ``Refused`` frame's text."""
    if REJOIN_HINT in reason:
        return "wrong_incarnation"
    if reason.endswith(" is not a member"):
        return "not_member"
    return "refused"


@attrs.frozen(slots=True)
class Dialled:
    """An open connection whose handshake succeeded."""

    stream: Stream
    reader: FrameReader
    welcome: Welcome


async def dial(
    node_id: int,
    address: Address,
    hello: Hello,
    codec: Codec,
    config: TransportConfig,
    *,
    tls: Tls | None = None,
) -> Dialled:
    """Connect to node ``node_id`` at ``address`` and complete the handshake;
    ``NotSent`` (or ``HandshakeRefused``) if either fails. With ``tls``, the
    TLS handshake comes first and the node's certificate must name member
    ``node_id`` of ``hello.cluster_id``."""
    try:
        stream: Stream = await trio.open_tcp_stream(address.host, address.port)
    except OSError as exc:
        raise NotSent(
            f"cannot connect to node {node_id} at {address}: {exc.strerror or exc}"
        ) from exc
    if tls is not None:
        stream = await _secure(
            stream, node_id, address, hello.cluster_id, tls=tls, timeout=config.handshake_timeout_s
        )
    reader = FrameReader(stream, config.max_frame_bytes)
    try:
        with trio.fail_after(config.handshake_timeout_s):
            await stream.send_all(prefixed(codec.encode(hello)))
            answer = codec.decode(await reader.receive_one())
    except CONNECTION_ERRORS as exc:
        await close(stream)
        raise NotSent(
            f"handshake with node {node_id} at {address} failed: {describe(exc)}"
        ) from exc
    except BaseException:
        await close(stream)
        raise
    if isinstance(answer, Welcome) and answer.node_id == node_id:
        return Dialled(stream, reader, answer)
    await close(stream)
    if isinstance(answer, Refused):
        raise HandshakeRefused(
            f"node {node_id} at {address} refused us: {answer.reason}", refusal_kind(answer.reason)
        )
    if isinstance(answer, Welcome):
        raise HandshakeRefused(
            f"{address} is node {answer.node_id}, but the configuration says "
            f"node {node_id} is there",
            "wrong_node",
        )
    raise HandshakeRefused(
        f"{address} answered the handshake with {type(answer).__name__}", "unexpected"
    )


async def _secure(
    stream: Stream,
    node_id: int,
    address: Address,
    cluster_id: str,
    *,
    tls: Tls,
    timeout: float,
) -> Stream:
    """The TLS handshake of a dialled connection, and the node's identity check."""
    try:
        secured = await tls.connect(stream, timeout)
    except CONNECTION_ERRORS as exc:
        await close(stream)
        raise NotSent(
            f"TLS handshake with node {node_id} at {address} failed: {describe(exc)}"
        ) from exc
    except BaseException:
        await close(stream)
        raise
    try:
        who = principal(secured, cluster_id)
    except IdentityError as exc:
        await close(secured)
        raise HandshakeRefused(f"{address} is not a member of {cluster_id!r}: {exc}") from exc
    if who.member_id != node_id:
        await close(secured)
        raise HandshakeRefused(
            f"{address} presented the certificate of {who}, but the configuration says "
            f"node {node_id} is there",
            "wrong_node",
        )
    return secured


async def listen(
    address: Address,
    handle: Callable[[Stream], Awaitable[None]],
    *,
    tls: Tls | None = None,
    handshake_timeout: float = 5.0,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Accept connections at ``address`` and run ``handle`` for each, in a task
    of its own, until cancelled; reports the bound port once listening. With
    ``tls``, ``handle`` gets the stream after the server side of the TLS
    handshake (connections whose handshake fails are closed)."""
    if tls is not None:
        handle = serving_tls(tls, handshake_timeout, handle)
    try:
        listeners = await trio.open_tcp_listeners(address.port, host=address.host)
    except OSError as exc:  # in use, not this machine's, unresolvable: say where
        raise AddressUnavailable(address, os_reason(exc)) from exc
    port = listeners[0].socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, handle, listeners)
        task_status.started(port)


async def close(stream: Stream) -> None:
    """Close ``stream``, even in a cancelled scope (within a second: a TLS
    stream's goodbye must not wait on a peer that does not read)."""
    with trio.move_on_after(1) as scope:
        scope.shield = True
        await stream.aclose()


def direct_write(stream: object) -> DirectWrite | None:
    """How to write into ``stream`` without waiting (``framing.DirectWrite``):
    a plain TCP stream's socket, or a ``TlsSocketStream``'s
    ``send_nowait``; None for any other stream."""
    if isinstance(stream, TlsSocketStream):
        return stream.send_nowait
    socket = getattr(stream, "socket", None)
    return None if socket is None else functools.partial(os.write, int(socket.fileno()))


def remote(stream: object) -> str:
    """``host:port`` of the other end (for logs)."""
    stream = getattr(stream, "transport_stream", stream)  # under trio.SSLStream, TCP
    socket = getattr(stream, "socket", None)
    try:
        host, port, *_ = socket.getpeername()  # type: ignore[union-attr]
    except (OSError, AttributeError):
        return "a closed socket"
    return f"{host}:{port}"


def describe(exc: BaseException) -> str:
    """``Type: message`` of an error, for logs."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
