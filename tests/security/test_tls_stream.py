"""``TlsSocketStream`` behaves as a trio stream should (trio's own conformance checks)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import trio
import trio.testing

from pyconsensus.adapters.trio.tls import Tls
from pyconsensus.adapters.trio.tlsstream import TlsSocketStream
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
