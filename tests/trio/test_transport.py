"""The transport: frames, handshakes, refusals, bounded queues and backoff.

A node must refuse what it cannot trust - another cluster, another protocol
or wire version, a stranger posing as a member, garbage, oversized frames -
say why in its log, count it, close that connection, and keep running.
"""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest
import trio
import trio.testing

from pyconsensus.adapters.cbor import decode, encode
from pyconsensus.adapters.trio import Address, Node, TransportConfig
from pyconsensus.adapters.trio.framing import FrameReader, FrameSender, FrameTooLarge, prefixed
from pyconsensus.adapters.trio.peers import backoff_delay
from pyconsensus.rsm import kv
from pyconsensus.service.messages import (
    WIRE_VERSION,
    ConnectionKind,
    Hello,
    Refused,
    Welcome,
)
from tests.trio.support import running_cluster, the_leader, wait_for

# -- frames -----------------------------------------------------------------


async def test_frames_are_cut_from_any_chunking_of_the_stream() -> None:
    frames = [b"a", b"", b"x" * 70_000, b"last"]
    data = b"".join(prefixed(f) for f in frames)
    for chunk in (1, 3, 4096, len(data)):
        send, receive = trio.testing.memory_stream_pair()
        reader = FrameReader(receive, max_frame_bytes=100_000)
        got: list[bytes] = []
        for start in range(0, len(data), chunk):
            await send.send_all(data[start : start + chunk])
        while len(got) < len(frames):
            got.extend(await reader.receive())
        assert got == frames


async def test_a_length_over_the_limit_is_refused_before_the_body_arrives() -> None:
    send, receive = trio.testing.memory_stream_pair()
    reader = FrameReader(receive, max_frame_bytes=1024)
    await send.send_all(struct.pack(">I", 1025))  # no body at all
    with pytest.raises(FrameTooLarge):
        await reader.receive()


async def test_a_stream_closed_mid_frame_is_end_of_file() -> None:
    send, receive = trio.testing.memory_stream_pair()
    reader = FrameReader(receive, max_frame_bytes=1024)
    await send.send_all(struct.pack(">I", 10) + b"abc")
    await send.aclose()
    with pytest.raises(EOFError):
        await reader.receive()


async def test_send_queue_is_bounded_and_drops_are_counted() -> None:
    sender = FrameSender(max_frames=3, max_bytes=1_000)
    assert all(sender.put(b"x" * 10) for _ in range(3))
    assert not sender.put(b"x")  # fourth frame: over the frame bound
    assert sender.dropped == 1 and len(sender) == 3
    roomy = FrameSender(max_frames=100, max_bytes=25)
    assert roomy.put(b"x" * 20)
    assert not roomy.put(b"x" * 10)  # over the byte bound
    assert roomy.queued_bytes == 20 and roomy.dropped == 1


async def test_queued_frames_leave_in_one_write() -> None:
    send, receive = trio.testing.memory_stream_pair()
    sender = FrameSender(max_frames=100, max_bytes=1 << 20)
    for i in range(10):
        sender.put(prefixed(b"%d" % i))
    writes: list[int] = []
    original = send.send_all

    async def counting_send_all(data: bytes | bytearray | memoryview) -> None:
        writes.append(len(data))
        await original(data)

    send.send_all = counting_send_all  # type: ignore[method-assign]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sender.run, send)
        reader = FrameReader(receive, max_frame_bytes=100)
        got: list[bytes] = []
        while len(got) < 10:
            got.extend(await reader.receive())
        sender.close()
    assert got == [b"%d" % i for i in range(10)]
    assert len(writes) == 1


def test_reconnect_backoff_grows_exponentially_with_jitter_up_to_the_cap() -> None:
    config = TransportConfig(reconnect_min_s=0.1, reconnect_max_s=1.0)
    rng = random.Random(5)
    for attempt, nominal in [(0, 0.1), (1, 0.2), (2, 0.4), (3, 0.8), (4, 1.0), (30, 1.0)]:
        delays = [backoff_delay(attempt, config, rng) for _ in range(200)]
        assert all(nominal / 2 <= d <= nominal for d in delays)
        assert max(delays) - min(delays) > nominal / 4  # jittered, not lockstep


# -- handshakes -------------------------------------------------------------


async def _handshake(node: Node, hello: object) -> object:
    """Dial ``node``, send ``hello``, return its answer (or ``None`` if it closed)."""
    address = node.config.address
    stream = await trio.open_tcp_stream(address.host, address.port)
    async with stream:
        await stream.send_all(prefixed(encode(hello)))
        reader = FrameReader(stream, 1 << 20)
        try:
            answer = await reader.receive_one()
        except EOFError:
            return None
        return decode(answer)


@pytest.mark.parametrize(
    ("hello", "reason"),
    [
        (Hello("other", ConnectionKind.PEER, 2, "raft", WIRE_VERSION), "cluster id 'other'"),
        (Hello("test", ConnectionKind.PEER, 2, "zab", WIRE_VERSION), "protocol 'zab'"),
        (Hello("test", ConnectionKind.PEER, 2, "raft", WIRE_VERSION + 1), "wire version"),
        (Hello("test", ConnectionKind.PEER, 9, "raft", WIRE_VERSION), "not a member"),
        (Hello("test", ConnectionKind.CLIENT, None, "paxos", WIRE_VERSION), "protocol 'paxos'"),
        (Welcome(2, "raft", None), "expected a Hello"),
    ],
    ids=["cluster", "protocol", "version", "stranger", "client-protocol", "not-a-hello"],
)
async def test_mismatched_handshakes_are_refused_with_a_reason(
    tmp_path: Path, hello: object, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    with trio.fail_after(20):
        async with running_cluster(tmp_path) as nodes:
            node = nodes[1]
            answer = await _handshake(node, hello)
            assert isinstance(answer, Refused)
            assert reason in answer.reason
            assert node.counters["handshake.refused"] == 1
            assert any(reason in r.getMessage() for r in caplog.records)


async def test_a_node_that_claims_to_be_its_listener_is_refused(tmp_path: Path) -> None:
    with trio.fail_after(20):
        async with running_cluster(tmp_path) as nodes:
            answer = await _handshake(
                nodes[1], Hello("test", ConnectionKind.PEER, 1, "raft", WIRE_VERSION)
            )
            assert isinstance(answer, Refused) and "duplicate node id" in answer.reason


# -- hostile input ----------------------------------------------------------


async def _send_raw(node: Node, data: bytes) -> bool:
    """Send ``data`` to ``node``; True if the node then closed the connection."""
    address = node.config.address
    stream = await trio.open_tcp_stream(address.host, address.port)
    async with stream:
        await stream.send_all(data)
        with trio.move_on_after(5):
            try:
                while await stream.receive_some(4096):
                    pass
            except trio.BrokenResourceError:
                pass
            return True
    return False


async def test_garbage_oversized_and_undecodable_frames_close_only_their_connection(
    tmp_path: Path,
) -> None:
    with trio.fail_after(30):
        async with running_cluster(
            tmp_path, transport=TransportConfig(max_frame_bytes=4096)
        ) as nodes:
            leader = the_leader(nodes)
            target = next(n for n in nodes.values() if n is not leader)
            peer_hello = prefixed(
                encode(Hello("test", ConnectionKind.PEER, 3, "raft", WIRE_VERSION))
            )
            assert await _send_raw(target, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # huge "length"
            assert await _send_raw(target, struct.pack(">I", 1 << 30) + b"x" * 100)
            assert await _send_raw(target, prefixed(b"\x01\xee garbage"))  # unknown tag
            assert await _send_raw(target, peer_hello + prefixed(b"\x07" * 50))  # after hello
            assert target.counters["frames.oversized"] == 2
            assert target.counters["frames.undecodable"] == 2
            # The node and the cluster carry on.
            for i in range(10):
                assert await target.propose(kv.put(b"k", b"%d" % i)) == kv.OK
            await wait_for(lambda: target.status().applied_index == leader.status().commit_index)


async def test_a_peer_that_never_reads_does_not_stall_the_others(tmp_path: Path) -> None:
    """Node 3's address is a listener that welcomes and then never reads a byte."""
    with trio.fail_after(30):
        silent = trio.socket.socket()
        await silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        async with trio.open_nursery() as nursery:
            accepted: list[trio.socket.SocketType] = []

            async def welcome_and_ignore() -> None:
                while True:
                    sock, _ = await silent.accept()
                    accepted.append(sock)  # never read: the sender's buffers fill up
                    await sock.send(prefixed(encode(Welcome(3, "raft", None))))

            nursery.start_soon(welcome_and_ignore)
            async with running_cluster(
                tmp_path,
                elsewhere={3: Address("127.0.0.1", port)},
                transport=TransportConfig(send_queue_frames=16, send_queue_bytes=64 << 10),
            ) as nodes:
                leader = the_leader(nodes)
                big = b"v" * 20_000
                for i in range(20):
                    assert await leader.propose(kv.put(b"k%d" % i, big)) == kv.OK
                link = leader.links[3]
                assert len(link.sender) <= 16 and link.sender.queued_bytes <= 64 << 10
            nursery.cancel_scope.cancel()
