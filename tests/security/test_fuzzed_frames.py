"""Mutated frames of every type, at the handshake and after it, over real sockets.

The codec's own fuzzing (``tests/fuzz``, ``tests/adapters/test_cbor_properties.py``)
shows that decoding raises nothing but ``DecodeError``. This goes one layer up:
a node fed damaged handshakes, and every registered message type - whole or
damaged - on a welcomed peer or client connection, answers or closes that
connection, never fails in its handling (``connections.failed``), and keeps
committing. Seeded: a failure names its seed and repeats exactly.
"""

from __future__ import annotations

import contextlib
import random
from pathlib import Path

import trio

from pyconsensus.adapters.cbor import default_codec, encode
from pyconsensus.adapters.trio import Node, TransportConfig
from pyconsensus.adapters.trio.framing import prefixed
from pyconsensus.rsm import kv
from pyconsensus.service.messages import Hello, Welcome
from tests.fuzz.corpus import mutate, samples, write_seed_corpus
from tests.security.support import client_hello, closed_by_node, greet, peer_hello, raw
from tests.trio.support import running_cluster

SEED = 16
CASES = 150


async def _send_and_drain(node: Node, data: bytes) -> None:
    """Send ``data`` on a fresh connection and read until the node closes it
    or goes quiet."""
    async with raw(node) as stream:
        try:
            await stream.send_all(data)
        except trio.BrokenResourceError:
            return
        await closed_by_node(stream, within=0.2)


async def test_damaged_handshakes_are_refused_or_closed(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    hellos = [encode(peer_hello(3)), encode(client_hello()), encode(client_hello("raft"))]
    transport = TransportConfig(handshake_timeout_s=0.2)
    async with running_cluster(tmp_path, transport=transport) as nodes:
        node = nodes[1]
        for case in range(CASES):
            frame = mutate(rng.choice(hellos), rng)
            prefix = prefixed(frame)
            if case % 10 == 0:  # and now and then a lying length prefix
                prefix = rng.randbytes(4) + frame
            await _send_and_drain(node, prefix)
        assert node.counters["connections.failed"] == 0
        assert await node.propose(kv.put(b"after", b"fuzz")) == kv.OK


async def test_every_message_type_whole_or_damaged_is_survived(tmp_path: Path) -> None:
    codec = default_codec()
    rng = random.Random(SEED)
    whole = [codec.encode(obj) for obj in samples(codec, SEED).values()]
    async with running_cluster(tmp_path) as nodes:
        node = nodes[1]
        for hello in (peer_hello(2), client_hello()):
            # Every type, whole, on one connection (each is refused or ignored)...
            await _after_handshake(node, hello, whole)
            # ...then damaged ones, each on a connection of its own (a frame
            # that does not decode closes its connection).
            for _ in range(CASES // 2):
                await _after_handshake(node, hello, [mutate(rng.choice(whole), rng)])
        assert node.counters["connections.failed"] == 0
        for other in nodes.values():
            assert await other.propose(kv.put(b"after", b"fuzz")) == kv.OK


async def _after_handshake(node: Node, hello: Hello, frames: list[bytes]) -> None:
    async with raw(node) as stream:
        assert isinstance(await greet(stream, hello), Welcome)
        with contextlib.suppress(trio.BrokenResourceError):  # closed at a bad frame
            await stream.send_all(b"".join(prefixed(f) for f in frames))
        await closed_by_node(stream, within=0.05)


def test_the_seed_corpus_holds_a_frame_of_every_registered_type(tmp_path: Path) -> None:
    codec = default_codec()
    assert write_seed_corpus(codec, tmp_path) == len(codec.types)
    tags = {codec.tag_of(type(codec.decode(p.read_bytes()))) for p in tmp_path.iterdir()}
    assert tags == set(codec.types)
