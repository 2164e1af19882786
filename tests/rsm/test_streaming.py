"""The streaming state machine contract: point-in-time sources read while
the machine goes on applying, and restores from chunks of any size."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable

import pytest

from pyconsensus.core.ready import Ready
from pyconsensus.core.snapshots import SnapshotMeta
from pyconsensus.rsm import ReplicatedStateMachine, SessionCommand, kv
from pyconsensus.rsm.cow import Overlay
from pyconsensus.rsm.errors import MalformedCommand
from pyconsensus.rsm.kv import KVStateMachine
from pyconsensus.rsm.streaming import (
    BytesSource,
    ChunkReader,
    StreamingStateMachine,
    restore_from,
    source_of,
)
from tests.rsm.test_replicated import FakeNode, entry


def filled(count: int, seed: int = 0) -> KVStateMachine:
    rng = random.Random(seed)
    machine = KVStateMachine()
    for i in range(count):
        machine.apply(kv.put(b"k%05d" % i, rng.randbytes(rng.randint(0, 300))))
    return machine


def rechunk(data: bytes, rng: random.Random) -> list[bytes]:
    pieces = []
    start = 0
    while start < len(data):
        size = rng.randint(1, 700)
        pieces.append(data[start : start + size])
        start += size
    return pieces


def test_the_key_value_machine_streams_and_a_plain_machine_falls_back_to_bytes() -> None:
    assert isinstance(KVStateMachine(), StreamingStateMachine)

    class Plain:
        def __init__(self) -> None:
            self.state = b"state"

        def apply(self, command: bytes) -> bytes:
            return b""

        def query(self, query: bytes) -> bytes:
            return b""

        def snapshot(self) -> bytes:
            return self.state

        def restore(self, data: bytes) -> None:
            self.state = data

    plain = Plain()
    source = source_of(plain)
    assert isinstance(source, BytesSource) and b"".join(source.chunks()) == b"state"
    restore_from(plain, [b"new ", b"state"])
    assert plain.state == b"new state"


def test_a_source_yields_the_state_as_it_was_however_many_commands_apply_meanwhile() -> None:
    machine = filled(2000)
    expected = dict(machine.data)
    source = machine.snapshot_source()
    for i in range(0, 2000, 3):
        machine.apply(kv.delete(b"k%05d" % i))
    machine.apply(kv.put(b"k00001", b"changed"))
    machine.apply(kv.append(b"new", b"key"))
    after = dict(machine.data)
    restored = KVStateMachine()
    restored.restore_chunks(source.chunks())
    assert restored.data == expected
    source.close()
    assert machine.data == after
    assert type(machine.data) is dict  # the overlay was folded back


def test_a_source_read_in_another_thread_while_commands_apply_is_point_in_time() -> None:
    machine = filled(5000)
    expected = dict(machine.data)
    source = machine.snapshot_source()
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.extend(source.chunks()))
    reader.start()
    for i in range(5000):
        machine.apply(kv.put(b"k%05d" % ((i * 7) % 6000), b"x"))
        if i % 2:
            machine.apply(kv.delete(b"k%05d" % i))
    reader.join()
    source.close()
    restored = KVStateMachine()
    restored.restore_chunks(chunks)
    assert restored.data == expected


@pytest.mark.parametrize("seed", range(3))
def test_restoring_from_arbitrary_chunk_boundaries_rebuilds_the_same_map(seed: int) -> None:
    machine = filled(300, seed)
    data = machine.snapshot()
    restored = KVStateMachine()
    restored.restore_chunks(rechunk(data, random.Random(seed)))
    assert restored.data == machine.data
    assert restored.snapshot() == data


def test_a_truncated_or_overlong_stream_is_refused() -> None:
    data = filled(10).snapshot()
    with pytest.raises(ValueError, match="ends"):
        KVStateMachine().restore_chunks([data[:-3]])
    with pytest.raises(ValueError, match="count"):
        KVStateMachine().restore_chunks([data, b"\x00\x00\x00\x01k\x00\x00\x00\x00"])


def test_only_one_source_at_a_time_and_a_restore_meanwhile_wins() -> None:
    machine = filled(10)
    source = machine.snapshot_source()
    with pytest.raises(RuntimeError, match="open"):
        machine.snapshot_source()
    machine.restore(filled(3, 9).snapshot())
    source.close()
    assert machine.data == filled(3, 9).data


def test_the_overlay_reads_through_counts_and_iterates_like_the_merged_dict() -> None:
    base = {b"a": b"1", b"b": b"2", b"c": b"3"}
    overlay = Overlay(base)
    overlay[b"b"] = b"two"
    del overlay[b"c"]
    overlay[b"d"] = b"4"
    assert base == {b"a": b"1", b"b": b"2", b"c": b"3"}  # frozen
    assert dict(overlay) == {b"a": b"1", b"b": b"two", b"d": b"4"}
    assert len(overlay) == 3 and b"c" not in overlay and overlay.get(b"c") is None
    with pytest.raises(KeyError):
        del overlay[b"c"]
    assert overlay.merged() == {b"a": b"1", b"b": b"two", b"d": b"4"}


def test_a_chunk_reader_reads_fields_across_chunk_boundaries() -> None:
    reader = ChunkReader([b"ab", b"", b"cdef", b"g"])
    assert reader.read(3) == b"abc"
    assert b"".join(reader.rest()) == b"defg"
    with pytest.raises(ValueError, match="into a field"):
        ChunkReader([b"ab"]).read(3)
    assert ChunkReader([]).read(1) is None


def meta_at(index: int) -> SnapshotMeta:
    return SnapshotMeta(index, 1, None, 0, "sha256:unused")


def rsm_with_state() -> ReplicatedStateMachine:
    rsm = ReplicatedStateMachine(FakeNode(), KVStateMachine())
    commands = [SessionCommand(c, 1, kv.put(b"k%d" % c, b"v%d" % c)) for c in range(1, 6)]
    rsm.handle(Ready(committed=tuple(entry(i + 1, cmd) for i, cmd in enumerate(commands))))
    return rsm


def test_the_replicated_layer_streams_sessions_and_state_and_restores_them() -> None:
    rsm = rsm_with_state()
    source = rsm.snapshot_source()
    rsm.handle(Ready(committed=(entry(6, SessionCommand(9, 1, kv.put(b"later", b"x"))),)))
    data = b"".join(source.chunks())
    source.close()
    copy = ReplicatedStateMachine(FakeNode(), KVStateMachine())
    copy.restore_chunks(meta_at(5), rechunk(data, random.Random(1)))
    assert copy.applied == copy.snapshot_index == 5
    assert copy.sessions.answer(3, 1) == kv.OK
    assert copy.sessions.answer(9, 1) is None  # applied after the source was taken
    assert isinstance(copy.machine, KVStateMachine)
    assert copy.machine.data == {b"k%d" % c: b"v%d" % c for c in range(1, 6)}


def test_the_replicated_layer_restores_its_whole_bytes_layout_from_chunks_too() -> None:
    rsm = rsm_with_state()
    copy = ReplicatedStateMachine(FakeNode(), KVStateMachine())
    copy.restore_chunks(meta_at(5), [rsm.snapshot()[:7], rsm.snapshot()[7:]])
    assert copy.applied == 5 and copy.sessions.answer(2, 1) == kv.OK


@pytest.mark.parametrize(
    ("index", "mangle", "reason"),
    [
        (5, lambda data: b"XXXX" + data[4:], "not a replicated"),
        (6, lambda data: data, "labelled index 6"),
        (5, lambda data: data[:30], "ends"),
    ],
)
def test_a_streamed_snapshot_that_is_not_ours_or_not_at_its_index_is_refused(
    index: int, mangle: Callable[[bytes], bytes], reason: str
) -> None:
    source = rsm_with_state().snapshot_source()
    data = b"".join(source.chunks())
    copy = ReplicatedStateMachine(FakeNode(), KVStateMachine())
    with pytest.raises(MalformedCommand, match=reason):
        copy.restore_chunks(meta_at(index), [mangle(data)])
    assert copy.applied == 0
