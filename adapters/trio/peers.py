"""Outgoing connections to the other nodes: a ``PeerSet`` of ``PeerLink`` objects.

Each node dials each peer and sends it its messages over that connection; the
messages a peer sends back arrive over the connection the peer dialled
(``server.py``). A link keeps a bounded queue (``FrameSender``), dials with a
capped, jittered exponential backoff, performs the handshake
(``transport.dial``), and writes the queue out until the connection breaks -
then starts over.

The ``PeerSet`` is the one place that knows who the peers are: it adds and
removes links at run time (each link runs in a cancel scope of its own inside
the set's nursery), routes outgoing messages to them, and answers the server's
question whether a dialler is a peer. Membership changes (issue 14) and
certificate-bound peer identities (issue 16) plug in here.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import attrs
import trio

from pyconsensus.adapters.cbor import Codec, EncodeError
from pyconsensus.adapters.trio.config import Address, TransportConfig
from pyconsensus.adapters.trio.events import emit
from pyconsensus.adapters.trio.framing import PREFIX, Flusher, FrameSender
from pyconsensus.adapters.trio.tls import Tls
from pyconsensus.adapters.trio.transport import (
    CONNECTION_ERRORS,
    Dialled,
    HandshakeRefused,
    NotSent,
    Stream,
    close,
    describe,
    dial,
    direct_write,
)
from pyconsensus.service.messages import Hello

log = logging.getLogger("pyconsensus.trio.peers")


def backoff_delay(attempt: int, config: TransportConfig, rng: random.Random) -> float:
    """Seconds to wait before dial number ``attempt + 1`` after ``attempt`` failures:
    ``min(max, min * 2**attempt)``, half of it fixed and half uniformly random
    (so that nodes restarted together do not dial in lockstep)."""
    delay = min(config.reconnect_max_s, config.reconnect_min_s * 2.0 ** min(attempt, 30))
    return float(delay / 2 + rng.uniform(0, delay / 2))


@attrs.frozen(slots=True)
class LinkSettings:
    """What every link of a node shares."""

    hello: Hello
    """This node's handshake."""
    codec: Codec
    config: TransportConfig
    counters: Counter[str]
    """The node's counters (``send.dropped``, ``connect.failures``...)."""
    rng: random.Random
    """Jitters the reconnect delays."""
    flusher: Flusher | None = None
    """Makes the links' senders eager (``framing.Flusher``)."""
    tls: Tls | None = None
    """Mutual TLS for the links (``tls.py``); None: plaintext."""
    refused: Callable[[int, str], None] | None = None
    """Told ``(peer, kind)`` of each handshake: ``"welcome"`` when the peer
    took it, else why it refused (``HandshakeRefused.reason``)."""


class PeerLink:
    """The outgoing half of the connection to one peer."""

    def __init__(self, peer_id: int, address: Address, settings: LinkSettings) -> None:
        self.peer_id = peer_id
        self.address = address
        self.hello = settings.hello
        self.codec = settings.codec
        self.config = config = settings.config
        self.counters = settings.counters
        self.rng = settings.rng
        self.tls = settings.tls
        self.refused = settings.refused
        self.sender = FrameSender(
            config.send_queue_frames, config.send_queue_bytes, settings.flusher
        )
        self.connected = False
        self.connects = 0
        self.isolated = False
        self._connection: trio.CancelScope | None = None
        self._isolation_over = trio.Event()
        self._last_problem = ""
        self._bytes_out = f"peer.{peer_id}.bytes_out"

    def send(self, frame: bytes) -> bool:
        """Queue an encoded, prefixed frame; False if the queue was full."""
        if self.sender.put(frame):
            self.counters[self._bytes_out] += len(frame)
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
            self._connection = scope  # isolate() cancels it, dialling or connected
            try:
                dialled = await self._dial()
                if dialled is None:
                    return False
                if self.refused is not None:
                    self.refused(self.peer_id, "welcome")
                await self._send_until_lost(dialled.stream)
            finally:
                self._connection = None
            return True
        return False

    async def _dial(self) -> Dialled | None:
        try:
            return await dial(
                self.peer_id, self.address, self.hello, self.codec, self.config, tls=self.tls
            )
        except HandshakeRefused as exc:
            if exc.reason in ("refused", "not_member", "wrong_incarnation"):
                self.counters["handshake.refused_by_peer"] += 1
            elif exc.reason == "wrong_node":
                self.counters["handshake.wrong_peer"] += 1
            if exc.reason == "wrong_incarnation":
                # A wiped data directory: say so loudly, once per message.
                self.counters["handshake.refused_incarnation"] += 1
                if str(exc) != self._last_problem:
                    log.error("%s", exc)
                    self._last_problem = str(exc)
            else:
                self._problem(str(exc))
            if self.refused is not None:
                self.refused(self.peer_id, exc.reason)
        except NotSent as exc:
            self._problem(str(exc))
        return None

    async def _send_until_lost(self, stream: Stream) -> None:
        self.connected = True
        self.connects += 1
        self._last_problem = ""
        self._event("peer_connected", f"connected to node {self.peer_id} at {self.address}")
        reason = "isolated" if self.isolated else "stopped"  # unless an error says more
        try:
            lost: BaseException | None = None
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._watch_close, stream, nursery.cancel_scope)
                try:
                    await self.sender.run(stream, direct_write(stream))
                except CONNECTION_ERRORS as exc:
                    lost = exc  # raised below: a nursery would wrap it in a group
                nursery.cancel_scope.cancel()
            if lost is not None:
                raise lost
            reason = "closed"
        except CONNECTION_ERRORS as exc:
            reason = f"lost: {describe(exc)}"
        finally:
            self.connected = False
            if self.isolated:
                reason = "isolated"
            self._event("peer_disconnected", f"connection to node {self.peer_id} {reason}", reason)
            await close(stream)

    def _event(self, event: str, message: str, reason: str | None = None) -> None:
        fields: dict[str, Any] = {"peer": self.peer_id, "address": str(self.address)}
        if reason is not None:
            fields["reason"] = reason
        emit(log, self.counters, event, message, node=self.hello.node_id, **fields)

    async def _watch_close(self, stream: Stream, scope: trio.CancelScope) -> None:
        """The peer never writes after its Welcome: any read result means the
        connection is over (closed, reset, or a protocol violation)."""
        with contextlib.suppress(*CONNECTION_ERRORS):
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


class PeerSet(Mapping[int, PeerLink]):
    """The links to the peers, by node id (see the module docstring).

    Build it, ``add`` the initial peers, and run ``run`` in the node's nursery;
    ``add`` and ``remove`` work before and while it runs.
    """

    def __init__(self, settings: LinkSettings) -> None:
        self.settings = settings
        self.isolated = False
        self._links: dict[int, PeerLink] = {}
        self._scopes: dict[int, trio.CancelScope] = {}
        self._nursery: trio.Nursery | None = None

    def __getitem__(self, peer_id: int) -> PeerLink:
        return self._links[peer_id]

    def __iter__(self) -> Iterator[int]:
        return iter(sorted(self._links))

    def __len__(self) -> int:
        return len(self._links)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run every link (and those added later) until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for peer_id in self._links:
                self._start(peer_id)
            task_status.started()
            try:
                await trio.sleep_forever()
            finally:
                self._nursery = None

    def add(self, peer_id: int, address: Address) -> PeerLink:
        """Start talking to ``peer_id`` at ``address`` (a peer already known at
        another address is redialled there; its queued frames are dropped)."""
        old = self._links.get(peer_id)
        if old is not None:
            if old.address == address:
                return old
            self.remove(peer_id)
        link = PeerLink(peer_id, address, self.settings)
        link.isolate(self.isolated)
        self._links[peer_id] = link
        if self._nursery is not None:
            self._start(peer_id)
        return link

    def remove(self, peer_id: int) -> None:
        """Stop talking to ``peer_id``: its connection closes, its queue is dropped."""
        link = self._links.pop(peer_id, None)
        scope = self._scopes.pop(peer_id, None)
        if scope is not None:
            scope.cancel()
        if link is not None:
            link.sender.clear()
            link.sender.close()

    def send(self, messages: Sequence[Any]) -> None:
        """Encode each message and queue it to the link of its ``dst``."""
        encode = self.settings.codec.encode
        links = self._links
        pack = PREFIX.pack
        counters = self.settings.counters
        for message in messages:
            link = links.get(message.dst)
            if link is None:
                counters["send.unknown_destination"] += 1
                continue
            try:
                frame = encode(message)
            except EncodeError as exc:
                counters["send.unencodable"] += 1
                log.error(
                    "cannot send %s to node %d: %s", type(message).__name__, link.peer_id, exc
                )
                continue
            link.send(pack(len(frame)) + frame)

    def isolate(self, isolated: bool) -> None:
        """Cut (or restore) every outgoing connection (fault injection)."""
        self.isolated = isolated
        for link in self._links.values():
            link.isolate(isolated)

    def _start(self, peer_id: int) -> None:
        assert self._nursery is not None
        scope = trio.CancelScope()
        self._scopes[peer_id] = scope
        self._nursery.start_soon(_run_in, scope, self._links[peer_id])


async def _run_in(scope: trio.CancelScope, link: PeerLink) -> None:
    with scope:
        await link.run()
