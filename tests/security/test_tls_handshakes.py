"""TLS handshakes are the cheapest CPU attack: a listener runs a bounded number at once."""

from __future__ import annotations

from pathlib import Path

import attrs
import trio
import trio.testing

from pyconsensus.adapters.trio.tls import Tls
from tests.security.tls_support import make_certs


async def test_concurrent_server_handshakes_are_capped(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    certs = make_certs(tmp_path, [1])
    tls = Tls(attrs.evolve(certs.node(1), max_handshakes=2))
    silent = []  # clients that connect and never say hello
    async with trio.open_nursery() as nursery:
        for _ in range(5):
            client_end, server_end = trio.testing.memory_stream_pair()
            silent.append(client_end)
            nursery.start_soon(tls.accept, server_end, 5.0)
            await trio.testing.wait_all_tasks_blocked()
        assert tls.handshakes.borrowed_tokens == 2
        assert tls.handshakes.statistics().tasks_waiting == 2
        assert tls.counters["tls.handshakes_shed"] == 1  # beyond those that wait
    # The handshake timeout counts the wait for a turn too.
    assert tls.counters["tls.handshake_timeouts"] == 4
