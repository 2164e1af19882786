"""``TlsSocketStream`` behaves as a trio stream should (trio's own conformance checks)."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import trio
import trio.testing

from pyconsensus.adapters.trio.framing import Flusher, FrameSender, prefixed
from pyconsensus.adapters.trio.tls import Tls
from pyconsensus.adapters.trio.tlsstream import TlsSocketStream
from pyconsensus.adapters.trio.transport import direct_write
from tests.security.tls_support import make_certs

PairMaker = Callable[[], Awaitable[tuple[TlsSocketStream, TlsSocketStream]]]


@pytest.fixture
def pair_maker(tmp_path: Path) -> PairMaker:
    certs = make_certs(tmp_path, [1, 2])
    server_tls, client_tls = Tls(certs.node(1)), Tls(certs.node(2))

    async def make() -> tuple[TlsSocketStream, TlsSocketStream]:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        ends: dict[str, TlsSocketStream] = {}

        async def server() -> None:
            accepted = await listeners[0].accept()
            context = server_tls.server_context()
            ends["server"] = await TlsSocketStream.wrap(accepted, context, server_side=True)

        async def client() -> None:
            dialled = await trio.open_tcp_stream("127.0.0.1", port)
            context = client_tls.client_context()
            ends["client"] = await TlsSocketStream.wrap(dialled, context, server_side=False)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(server)
            nursery.start_soon(client)
        for listener in listeners:
            await listener.aclose()
        return ends["client"], ends["server"]

    return make


async def test_tls_socket_stream_passes_trios_two_way_stream_checks(
    pair_maker: PairMaker,
) -> None:
    await trio.testing.check_two_way_stream(pair_maker, None)


async def test_an_eager_sender_writes_through_tls_and_the_writer_finishes_what_blocked(
    pair_maker: PairMaker,
) -> None:
    """``send_nowait`` lets the driver loop write frames through TLS without a
    task switch; when the socket fills up, the writer task carries on from the
    same bytes, and the other end receives every frame once, in order."""
    client, server = await pair_maker()
    client.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32_768)
    direct = direct_write(client)
    assert direct is not None
    blocked = 0

    def counting(data: bytes) -> int:
        nonlocal blocked
        try:
            return direct(data)
        except BlockingIOError:
            blocked += 1
            raise

    flusher = Flusher(lambda: None)
    sender = FrameSender(max_frames=10_000, max_bytes=1 << 30, flusher=flusher)
    frames = [prefixed(bytes([n % 251]) * 70_000) for n in range(40)]  # ~2.8 MB: fills the socket
    expected = b"".join(frames)
    received = bytearray()

    async def read_all() -> None:
        while len(received) < len(expected):
            await trio.sleep(0.001)  # a slow reader: the sender's socket fills up
            received.extend(await server.receive_some(65536))

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sender.run, client, counting)
            await trio.testing.wait_all_tasks_blocked()
            for frame in frames:
                sender.put(frame)
                flusher.flush()
            nursery.start_soon(read_all)
            while len(received) < len(expected):
                await trio.sleep(0.01)
            sender.close()
    assert bytes(received) == expected
    assert flusher.syscalls > 0  # the loop wrote directly, not only the writer task
    assert blocked > 0  # and the writer task finished what the full socket refused
    await client.aclose()
    await server.aclose()
