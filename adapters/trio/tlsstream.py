"""A TLS stream on a TCP socket: OpenSSL encrypts in memory, we do the system calls.

``trio.SSLStream`` runs TLS over any stream by shuttling bytes between memory
BIOs and the stream below through trio's generic stream machinery; per call
that costs several times what the encryption does (``benchmarks/tls_cost.py``).
Handing the socket itself to ``ssl`` (an ``SSLSocket``) is lighter but reads
each TLS record with two system calls (its 5-byte header, then its body:
Python gives no way to turn on OpenSSL's read-ahead), which costs a single
client's write about 30 us per hop. ``TlsSocketStream`` keeps OpenSSL on
memory BIOs and makes the system calls itself, on the non-blocking socket:
one ``recv`` takes whatever records have arrived, one ``send`` writes
whatever records are ready, and trio is asked to wait only when the socket
would block. One task may send while another receives, as with any trio stream.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import trio

_RECEIVE_BYTES = 1 << 18


def _detach(stream: trio.SocketStream) -> socket.socket:
    """The stdlib socket under a trio ``SocketStream`` (which gives it up)."""
    sock = stream.socket
    family, kind, proto = sock.family, sock.type, sock.proto
    return socket.socket(family, kind, proto, fileno=sock.detach())


def _broken(exc: BaseException) -> trio.BrokenResourceError:
    return trio.BrokenResourceError(f"TLS connection broken: {exc}")


class TlsSocketStream(trio.abc.Stream):
    """A TLS connection on a non-blocking socket (see the module docstring).

    Build it with ``wrap``; errors come out as trio's stream errors
    (``BrokenResourceError`` with the ``ssl`` or ``OSError`` as cause)."""

    def __init__(
        self,
        sock: socket.socket,
        tls: ssl.SSLObject,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
    ) -> None:
        self.socket = sock
        self._tls = tls
        self._incoming = incoming
        self._outgoing = outgoing
        self._unsent = bytearray()  # ciphertext the kernel has not taken yet
        self._carried = 0  # plaintext of a blocked ``send_nowait``, already encrypted
        # Waits for the socket so far: a call that waited has yielded to trio
        # already and needs no checkpoint of its own (one scheduler pass less).
        self._receive_waits = 0
        self._send_waits = 0
        self._eof = False
        self._closed = False
        self._busy: set[str] = set()

    @classmethod
    async def wrap(
        cls, stream: trio.SocketStream, context: ssl.SSLContext, *, server_side: bool
    ) -> TlsSocketStream:
        """Take over ``stream``'s socket and complete the TLS handshake."""
        sock = _detach(stream)
        sock.setblocking(False)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = context.wrap_bio(incoming, outgoing, server_side=server_side)
        wrapped = cls(sock, tls, incoming, outgoing)
        try:
            await wrapped._handshake()
        except BaseException:
            await wrapped.aclose()
            raise
        return wrapped

    async def _handshake(self) -> None:
        while True:
            try:
                self._tls.do_handshake()
            except ssl.SSLWantReadError:
                await self._drain()
                if not await self._fill():
                    raise trio.BrokenResourceError("the peer closed during the TLS handshake")  # noqa: B904
                continue
            except ssl.SSLError as exc:
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    self._send_unsent()  # the alert tells the peer why
                raise _broken(exc) from exc
            await self._drain()
            return

    def getpeercert(self) -> dict[str, Any]:
        """The other end's certificate, as ``ssl.SSLSocket.getpeercert`` gives it."""
        return self._tls.getpeercert() or {}

    def getpeername(self) -> Any:
        return self.socket.getpeername()

    # ------------------------------------------------------------------
    # System calls

    def _take_ciphertext(self) -> None:
        if self._outgoing.pending:
            self._unsent += self._outgoing.read()

    def _send_unsent(self) -> None:
        """Hand the kernel what it takes of the ciphertext now."""
        self._take_ciphertext()
        while self._unsent:
            try:
                sent = self.socket.send(self._unsent)
            except BlockingIOError:
                return
            except OSError as exc:
                raise _broken(exc) from exc
            del self._unsent[:sent]

    async def _drain(self) -> None:
        """Send every byte of ciphertext, waiting for the socket as needed."""
        while True:
            self._check_open()
            self._send_unsent()
            if not self._unsent:
                return
            await self._wait(trio.lowlevel.wait_writable)
            self._send_waits += 1

    async def _fill(self) -> bool:
        """Feed OpenSSL what has arrived (waiting for something); False at end of stream."""
        while True:
            self._check_open()
            try:
                data = self.socket.recv(_RECEIVE_BYTES)
            except BlockingIOError:
                await self._wait(trio.lowlevel.wait_readable)
                self._receive_waits += 1
                continue
            except OSError as exc:
                raise _broken(exc) from exc
            if not data:
                self._incoming.write_eof()
                return False
            self._incoming.write(data)
            return True

    async def _wait(self, wait: Any) -> None:
        try:
            await wait(self.socket)
        except trio.ClosedResourceError:
            raise trio.ClosedResourceError("the TLS stream was closed") from None

    # ------------------------------------------------------------------
    # The stream

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

    def _encrypt(self, data: bytes | bytearray | memoryview) -> None:
        """Encrypt ``data`` into the ciphertext to send - except the part a
        blocked ``send_nowait`` already encrypted (it starts the same)."""
        view = memoryview(data)
        if self._carried:
            view, self._carried = view[self._carried :], 0
        try:
            while view:
                written = self._tls.write(view)
                view = view[written:]
        except ssl.SSLError as exc:
            raise _broken(exc) from exc
        self._take_ciphertext()

    def send_nowait(self, data: bytes) -> int:
        """Encrypt and write ``data`` now, without waiting (``framing.DirectWrite``).

        Returns ``len(data)`` once the kernel took all of it; otherwise raises
        ``BlockingIOError`` and keeps the ciphertext: the next write - by this
        method or ``send_all`` - must start with the same bytes (it may carry
        more after them), and only what follows them is encrypted again,
        which is what an eager ``FrameSender`` does. Never while a
        ``send_all`` is under way."""
        if self._closed:
            raise OSError("the TLS stream is closed")
        try:
            self._encrypt(data)
            self._send_unsent()
        except trio.BrokenResourceError as exc:
            raise OSError(str(exc)) from exc
        if self._unsent:
            self._carried = len(data)
            raise BlockingIOError("the socket would block")
        return len(data)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        with self._alone("sending"):
            await trio.lowlevel.checkpoint_if_cancelled()
            self._check_open()
            waits = self._send_waits
            self._encrypt(data)
            await self._drain()
            if self._send_waits == waits:
                await trio.lowlevel.cancel_shielded_checkpoint()

    async def wait_send_all_might_not_block(self) -> None:
        with self._alone("sending"):
            await trio.lowlevel.checkpoint_if_cancelled()
            self._check_open()
            await self._wait(trio.lowlevel.wait_writable)

    def _check_open(self) -> None:
        if self._closed:
            raise trio.ClosedResourceError("the TLS stream is closed")

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if max_bytes is not None and max_bytes < 1:
            raise ValueError("max_bytes must be >= 1")
        with self._alone("receiving"):
            await trio.lowlevel.checkpoint_if_cancelled()
            waits = self._receive_waits
            data = await self._receive(max_bytes or _RECEIVE_BYTES)
            if self._receive_waits == waits:
                await trio.lowlevel.cancel_shielded_checkpoint()
            return data

    async def _receive(self, max_bytes: int) -> bytes:
        while True:
            self._check_open()
            try:
                data: bytes = self._tls.read(max_bytes)
            except ssl.SSLWantReadError:
                if self._eof:
                    return b""
                self._eof = not await self._fill()  # then OpenSSL says if the end was clean
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""  # with or without a TLS goodbye: end of stream
            except ssl.SSLError as exc:
                raise _broken(exc) from exc
            else:
                if self._outgoing.pending and "sending" not in self._busy:
                    self._send_unsent()  # e.g. a key update's answer
                return data

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            trio.lowlevel.notify_closing(self.socket)  # wakes tasks waiting on it
            self.socket.close()
        await trio.lowlevel.checkpoint()
