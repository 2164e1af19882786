"""What TLS costs per message on one connection, in CPU time (not wall time).

Pushes batches of framed messages from one end of a loopback TCP connection
to the other, plaintext and then through ``trio.SSLStream`` with the
runtime's own contexts (``adapters/trio/tls.py``, ECDSA P-256 certificates
from ``pyconsensus certs``), and reports the process's CPU microseconds per
message for both. CPU time rather than wall time: on a loaded machine wall
time measures the neighbours, CPU time still measures the work. Interleaved
rounds; medians.

    python benchmarks/tls_cost.py [--messages 20000] [--batch 16] [--size 150] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

from pyconsensus.adapters.trio.certs import init_ca, issue
from pyconsensus.adapters.trio.framing import FrameReader, prefixed
from pyconsensus.adapters.trio.tls import Tls, TlsConfig
from pyconsensus.adapters.trio.tlsstream import TlsSocketStream


async def _push(
    messages: int, batch: int, size: int, tls: tuple[Tls, Tls] | None, direct: bool = False
) -> float:
    """CPU seconds to move ``messages`` frames of ``size`` bytes, ``batch`` per write."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    client: trio.abc.Stream = await trio.open_tcp_stream("127.0.0.1", port)
    server: trio.abc.Stream = await listeners[0].accept()
    if tls is not None and direct:
        server_tls, client_tls = tls
        async with trio.open_nursery() as nursery:
            done: dict[str, trio.abc.Stream] = {}

            async def wrap(name: str, stream: Any, context: Any, side: bool) -> None:
                done[name] = await TlsSocketStream.wrap(stream, context, server_side=side)

            nursery.start_soon(wrap, "s", server, server_tls.server_context(), True)
            nursery.start_soon(wrap, "c", client, client_tls.client_context(), False)
        server, client = done["s"], done["c"]
    elif tls is not None:
        server_tls, client_tls = tls
        wrapped_server = trio.SSLStream(server, server_tls.server_context(), server_side=True)
        wrapped_client = trio.SSLStream(client, client_tls.client_context(), server_hostname=None)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(wrapped_server.do_handshake)
            nursery.start_soon(wrapped_client.do_handshake)
        server, client = wrapped_server, wrapped_client
    chunk = b"".join(prefixed(b"x" * size) for _ in range(batch))
    reader = FrameReader(server, 1 << 20)
    started = time.process_time()

    async def send() -> None:
        for _ in range(messages // batch):
            await client.send_all(chunk)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(send)
        received = 0
        while received < messages // batch * batch:
            received += len(await reader.receive())
    spent = time.process_time() - started
    for stream in (client, server):
        await stream.aclose()
    for listener in listeners:
        await listener.aclose()
    return spent


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as root:
        directory = Path(root)
        init_ca(directory, "bench")
        node = issue(directory, member=1)
        other = issue(directory, member=2)
        tls = (
            Tls(TlsConfig(directory / "ca.pem", node.cert, node.key)),
            Tls(TlsConfig(directory / "ca.pem", other.cert, other.key)),
        )
        plain: list[float] = []
        secure: list[float] = []
        direct: list[float] = []
        for _ in range(args.rounds):
            plain.append(await _push(args.messages, args.batch, args.size, None))
            secure.append(await _push(args.messages, args.batch, args.size, tls))
            direct.append(await _push(args.messages, args.batch, args.size, tls, direct=True))
    per = 1e6 / args.messages
    p, s = statistics.median(plain) * per, statistics.median(secure) * per
    print(
        f"{args.messages} messages of {args.size} B, {args.batch} per write, "
        f"medians of {args.rounds} interleaved rounds (CPU time, both ends in one process):"
    )
    d = statistics.median(direct) * per
    print(f"  plaintext {p:.2f} us/message")
    print(f"  trio.SSLStream {s:.2f} us/message (+{s - p:.2f})")
    print(f"  TlsSocketStream {d:.2f} us/message (+{d - p:.2f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=150, help="bytes per message")
    parser.add_argument("--rounds", type=int, default=5)
    trio.run(main, parser.parse_args())
