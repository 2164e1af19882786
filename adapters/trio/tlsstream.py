"""A TLS stream straight on the socket: OpenSSL reads and writes the file descriptor.

``trio.SSLStream`` runs TLS over any stream by shuttling bytes between memory
BIOs and the stream below in Python; per call that costs several times what
the encryption does (``benchmarks/tls_cost.py``: about 140 us of CPU per
unbatched message on the benchmark machine, against about 20 us here). The
runtime's connections are always TCP sockets, so ``TlsSocketStream`` hands
the socket itself to ``ssl`` in non-blocking mode and only waits for
readiness through trio when OpenSSL asks for it (``SSLWantReadError`` /
``SSLWantWriteError``). One task may send while another receives, as with
any trio stream.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import trio

_WANT = (ssl.SSLWantReadError, ssl.SSLWantWriteError)


def _detach(stream: trio.SocketStream) -> socket.socket:
    """The stdlib socket under a trio ``SocketStream`` (which gives it up)."""
    sock = stream.socket
    family, kind, proto = sock.family, sock.type, sock.proto
    return socket.socket(family, kind, proto, fileno=sock.detach())


async def _wait_for(sock: ssl.SSLSocket, want: BaseException) -> None:
    if isinstance(want, ssl.SSLWantReadError):
        await trio.lowlevel.wait_readable(sock)
    else:
        await trio.lowlevel.wait_writable(sock)


class TlsSocketStream(trio.abc.Stream):
    """A TLS connection on a non-blocking socket (see the module docstring).

    Build it with ``wrap``; errors come out as trio's stream errors
    (``BrokenResourceError`` with the ``ssl`` or ``OSError`` as cause)."""

    def __init__(self, tls_socket: ssl.SSLSocket) -> None:
        self.tls_socket = tls_socket
        self._closed = False
        self._busy: set[str] = set()

    @classmethod
    async def wrap(
        cls, stream: trio.SocketStream, context: ssl.SSLContext, *, server_side: bool
    ) -> TlsSocketStream:
        """Take over ``stream``'s socket and complete the TLS handshake."""
        sock = _detach(stream)
        sock.setblocking(False)
        tls_socket = context.wrap_socket(
            sock, server_side=server_side, do_handshake_on_connect=False
        )
        wrapped = cls(tls_socket)
        try:
            await wrapped._call(tls_socket.do_handshake)
        except BaseException:
            await wrapped.aclose()
            raise
        return wrapped

    def getpeercert(self) -> dict[str, Any]:
        """The other end's certificate, as ``ssl.SSLSocket.getpeercert`` gives it."""
        return self.tls_socket.getpeercert() or {}

    def getpeername(self) -> Any:
        return self.tls_socket.getpeername()

    async def _call(self, operation: Any, *args: Any) -> Any:
        while True:
            self._check_open()
            try:
                return operation(*args)
            except _WANT as want:
                try:
                    await _wait_for(self.tls_socket, want)
                except trio.ClosedResourceError:
                    raise trio.ClosedResourceError("the TLS stream was closed") from None
            except (ssl.SSLError, OSError) as exc:
                raise trio.BrokenResourceError(f"TLS connection broken: {exc}") from exc

    @contextlib.contextmanager
    def _alone(self, doing: str) -> Iterator[None]:
        """One task at a time may send, and one may receive."""
        if doing in self._busy:
            raise trio.BusyResourceError(f"another task is {doing} on this stream")
        self._busy.add(doing)
        try:
            yield
        finally:
            self._busy.discard(doing)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        with self._alone("sending"):
            await trio.lowlevel.checkpoint_if_cancelled()
            self._check_open()
            view = memoryview(data)
            while view:
                sent = await self._call(self.tls_socket.send, view)
                view = view[sent:]
            await trio.lowlevel.cancel_shielded_checkpoint()

    def send_nowait(self, data: bytes) -> int:
        """Encrypt and write ``data`` now, without waiting (``framing.DirectWrite``).

        Returns ``len(data)``, or raises ``BlockingIOError`` when the socket
        would block: OpenSSL may then have written part of it, and the next
        write - by this method or ``send_all`` - must start with the same
        bytes (it may carry more after them), which is what an eager
        ``FrameSender`` does. Never while a ``send_all`` is under way."""
        if self._closed:
            raise OSError("the TLS stream is closed")
        try:
            sent: int = self.tls_socket.send(data)
        except _WANT:
            raise BlockingIOError("the TLS socket would block") from None
        return sent

    async def wait_send_all_might_not_block(self) -> None:
        with self._alone("sending"):
            await trio.lowlevel.checkpoint_if_cancelled()
            self._check_open()
            await trio.lowlevel.wait_writable(self.tls_socket)

    def _check_open(self) -> None:
        if self._closed:
            raise trio.ClosedResourceError("the TLS stream is closed")

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if max_bytes is not None and max_bytes < 1:
            raise ValueError("max_bytes must be >= 1")
        with self._alone("receiving"):
            await trio.lowlevel.checkpoint_if_cancelled()
            try:
                data: bytes = await self._call(self.tls_socket.recv, max_bytes or 65536)
            except trio.BrokenResourceError as exc:
                if not isinstance(exc.__cause__, ssl.SSLEOFError):
                    raise
                data = b""  # the peer closed without a TLS goodbye: end of stream
            await trio.lowlevel.cancel_shielded_checkpoint()
            return data

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            trio.lowlevel.notify_closing(self.tls_socket)  # wakes tasks waiting on it
            self.tls_socket.close()
        await trio.lowlevel.checkpoint()
