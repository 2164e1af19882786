"""Outgoing connections to the other nodes: one ``PeerLink`` per peer.

Each node dials each peer and sends it its messages over that connection; the
messages a peer sends back arrive over the connection the peer dialled
(``server.py``). A link keeps a bounded queue (``FrameSender``), dials with a
capped, jittered exponential backoff, performs the handshake, and writes the
queue out until the connection breaks - then starts over.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections import Counter
from typing import Any

import trio

from pyconsensus.adapters.cbor import Codec, DecodeError
from pyconsensus.adapters.trio.config import Address, TransportConfig
from pyconsensus.adapters.trio.framing import (
    Flusher,
    FrameError,
    FrameReader,
    FrameSender,
    prefixed,
)
from pyconsensus.service.messages import Hello, Refused, Welcome

log = logging.getLogger("pyconsensus.trio.peers")

_CONNECTION_ERRORS = (
    OSError,
    EOFError,
    trio.BrokenResourceError,
    trio.ClosedResourceError,
    trio.TooSlowError,
    FrameError,
    DecodeError,
)


def backoff_delay(attempt: int, config: TransportConfig, rng: random.Random) -> float:
    """Seconds to wait before dial number ``attempt + 1`` after ``attempt`` failures:
    ``min(max, min * 2**attempt)``, half of it fixed and half uniformly random
    (so that nodes restarted together do not dial in lockstep)."""
    delay = min(config.reconnect_max_s, config.reconnect_min_s * 2.0 ** min(attempt, 30))
    return float(delay / 2 + rng.uniform(0, delay / 2))


class PeerLink:
    """The outgoing half of the connection to one peer."""

    def __init__(
        self,
        peer_id: int,
        address: Address,
        *,
        hello: Hello,
        codec: Codec,
        config: TransportConfig,
        counters: Counter[str],
        rng: random.Random,
        flusher: Flusher | None = None,
    ) -> None:
        self.peer_id = peer_id
        self.address = address
        self.hello = hello
        self.codec = codec
        self.config = config
        self.counters = counters
        self.rng = rng
        self.sender = FrameSender(config.send_queue_frames, config.send_queue_bytes, flusher)
        self.connected = False
        self.connects = 0
        self.isolated = False
        self._connection: trio.CancelScope | None = None
        self._isolation_over = trio.Event()
        self._last_problem = ""

    def send(self, frame: bytes) -> bool:
        """Queue an encoded, prefixed frame; False if the queue was full."""
        if self.sender.put(frame):
            return True
        self.counters["send.dropped"] += 1
        return False

    def isolate(self, isolated: bool) -> None:
        """Stop dialling (and drop the connection) while ``isolated``."""
        self.isolated = isolated
        if isolated:
            if self._connection is not None:
                self._connection.cancel()
        else:
            self._isolation_over.set()
            self._isolation_over = trio.Event()

    def status(self) -> dict[str, Any]:
        return {
            "connected": self.connected,
            "queued_frames": len(self.sender),
            "sent_frames": self.sender.sent_frames,
            "dropped_frames": self.sender.dropped,
            "connects": self.connects,
        }

    async def run(self) -> None:
        """Keep a connection to the peer open and feed it; never returns."""
        failures = 0
        while True:
            while self.isolated:
                self.sender.clear()
                await self._isolation_over.wait()
            if await self._connect_and_send():
                failures = 0
            else:
                # Messages queued for an unreachable peer are as good as lost
                # on the network; the protocols retransmit what still matters.
                self.sender.clear()
            await trio.sleep(backoff_delay(failures, self.config, self.rng))
            failures += 1

    async def _connect_and_send(self) -> bool:
        """One connection's life; True if the handshake succeeded."""
        with trio.CancelScope() as scope:
            self._connection = scope
            try:
                stream = await trio.open_tcp_stream(self.address.host, self.address.port)
            except OSError as exc:
                self._problem(f"cannot connect to {self.address}: {exc.strerror or exc}")
                return False
            welcomed = False
            try:
                welcomed = await self._handshake(stream)
                if not welcomed:
                    return False
                self.connected = True
                self.connects += 1
                self._last_problem = ""
                log.info("connected to node %d at %s", self.peer_id, self.address)
                lost: BaseException | None = None
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._watch_close, stream, nursery.cancel_scope)
                    try:
                        await self.sender.run(stream)
                    except _CONNECTION_ERRORS as exc:
                        lost = exc  # raised below: a nursery would wrap it in a group
                    nursery.cancel_scope.cancel()
                if lost is not None:
                    raise lost
                log.info("connection to node %d closed", self.peer_id)
            except _CONNECTION_ERRORS as exc:
                if welcomed:
                    log.info("connection to node %d lost: %s", self.peer_id, _describe(exc))
                else:
                    self._problem(f"handshake with {self.address} failed: {_describe(exc)}")
            finally:
                self.connected = False
                self._connection = None
                with trio.CancelScope(shield=True):
                    await stream.aclose()
            return welcomed
        return False

    async def _handshake(self, stream: trio.SocketStream) -> bool:
        reader = FrameReader(stream, self.config.max_frame_bytes)
        with trio.fail_after(self.config.handshake_timeout_s):
            await stream.send_all(prefixed(self.codec.encode(self.hello)))
            answer = self.codec.decode(await reader.receive_one())
        if isinstance(answer, Refused):
            self.counters["handshake.refused_by_peer"] += 1
            self._problem(f"node {self.peer_id} at {self.address} refused us: {answer.reason}")
            return False
        if not isinstance(answer, Welcome):
            self._problem(f"{self.address} answered the handshake with {type(answer).__name__}")
            return False
        if answer.node_id != self.peer_id:
            self.counters["handshake.wrong_peer"] += 1
            self._problem(
                f"{self.address} is node {answer.node_id}, but the configuration says "
                f"node {self.peer_id} is there"
            )
            return False
        return True

    async def _watch_close(self, stream: trio.SocketStream, scope: trio.CancelScope) -> None:
        """The peer never writes after its Welcome: any read result means the
        connection is over (closed, reset, or a protocol violation)."""
        with contextlib.suppress(*_CONNECTION_ERRORS):
            await stream.receive_some(1)
        scope.cancel()

    def _problem(self, message: str) -> None:
        # A dead or misconfigured peer fails every dial: say why once, loudly,
        # then only at debug level until something changes.
        self.counters["connect.failures"] += 1
        if message != self._last_problem:
            log.warning("%s", message)
            self._last_problem = message
        else:
            log.debug("%s", message)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
