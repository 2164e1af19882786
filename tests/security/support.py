"""Helpers of the hostile-network suite: raw sockets that speak (or abuse) the
wire protocol, and the process's resident memory.

Every helper is bounded in time: a hostile test must fail, never hang.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import trio

from pyconsensus.adapters.cbor import decode, encode
from pyconsensus.adapters.trio import Node
from pyconsensus.adapters.trio.framing import FrameReader, prefixed
from pyconsensus.core.storage import DEFAULT_INCARNATION
from pyconsensus.service.messages import WIRE_VERSION, ConnectionKind, Hello

BOUND_S = 10.0
"""How long any single wait on a node may take before the test fails."""


def peer_hello(
    node_id: int, protocol: str = "raft", incarnation: str = DEFAULT_INCARNATION
) -> Hello:
    """The handshake of a node claiming to be member ``node_id`` of cluster
    ``test`` (by default with the incarnation of the test clusters' memory
    storage, which the leader records in the configuration)."""
    return Hello("test", ConnectionKind.PEER, node_id, protocol, WIRE_VERSION, incarnation)


def client_hello(protocol: str = "") -> Hello:
    return Hello("test", ConnectionKind.CLIENT, None, protocol, WIRE_VERSION)


@contextlib.asynccontextmanager
async def raw(node: Node) -> AsyncIterator[trio.SocketStream]:
    """A plain TCP connection to ``node``, closed on exit."""
    address = node.config.address
    stream = await trio.open_tcp_stream(address.host, address.port)
    async with stream:
        yield stream


async def greet(stream: trio.SocketStream, hello: Hello) -> object:
    """Send ``hello`` and return the node's answer (``None`` if it closed)."""
    # It may have refused us already: its answer is still there to be read.
    with contextlib.suppress(trio.BrokenResourceError):
        await stream.send_all(prefixed(encode(hello)))
    reader = FrameReader(stream, 1 << 20)
    with trio.fail_after(BOUND_S):
        try:
            return decode(await reader.receive_one())
        except (EOFError, trio.BrokenResourceError):
            return None


async def closed_by_node(stream: trio.SocketStream, within: float = BOUND_S) -> bool:
    """Whether the node closes ``stream`` within ``within`` seconds (reading and
    discarding whatever it sends meanwhile)."""
    with trio.move_on_after(within):
        try:
            while await stream.receive_some(1 << 16):
                pass
        except trio.BrokenResourceError:
            pass
        return True
    return False


def rss_bytes() -> int:
    """Resident memory of this process (the test's nodes run in it), from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


@contextlib.asynccontextmanager
async def many(node: Node, count: int) -> AsyncIterator[list[trio.SocketStream]]:
    """``count`` plain TCP connections to ``node`` (a flood), closed on exit."""
    address = node.config.address
    streams: list[trio.SocketStream] = []
    try:
        for _ in range(count):
            streams.append(await trio.open_tcp_stream(address.host, address.port))
        yield streams
    finally:
        for stream in streams:
            await stream.aclose()
