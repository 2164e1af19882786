"""The transfer rules of core/transfer.py, one test each, plus a lossy-network
round trip between a sender and a receiver over two memory stores."""

from __future__ import annotations

import random

import pytest

from pyconsensus.core.errors import ConfigError
from pyconsensus.core.snapshot_store import MemorySnapshotStore
from pyconsensus.core.snapshots import SnapshotMeta
from pyconsensus.core.transfer import (
    OutgoingChunk,
    SnapshotReceiver,
    SnapshotSender,
    TransferConfig,
)

DATA = bytes(range(256)) * 4  # 1024 bytes


def store_with(data: bytes = DATA, index: int = 9) -> tuple[MemorySnapshotStore, SnapshotMeta]:
    store = MemorySnapshotStore()
    writer = store.create(index, 3, None)
    writer.write(data)
    return store, writer.finish()


def sender_of(data: bytes = DATA, **config: int) -> tuple[SnapshotSender, SnapshotMeta]:
    store, meta = store_with(data)
    settings = {"chunk_size": 100, "window": 3, **config}
    return SnapshotSender(store, TransferConfig(**settings)), meta


def offsets(chunks: list[OutgoingChunk]) -> list[int]:
    return [chunk.offset for chunk in chunks]


def test_window_bounds_unacknowledged_chunks_per_receiver() -> None:
    sender, meta = sender_of()
    assert sender.start(2, meta)
    assert offsets(sender.chunks()) == [0, 100, 200]
    assert sender.chunks() == []  # the window is full
    sender.acknowledge(2, meta, 100)
    assert offsets(sender.chunks()) == [300]


def test_cap_limits_concurrent_outgoing_transfers() -> None:
    sender, meta = sender_of(max_transfers=1)
    assert sender.start(2, meta)
    assert not sender.start(3, meta)
    assert sender.counters["transfer.deferred"] == 1
    sender.finish(2)
    assert sender.start(3, meta)


def test_rate_limits_chunks_per_tick_over_all_transfers() -> None:
    sender, meta = sender_of(chunks_per_tick=2, max_transfers=2)
    sender.start(2, meta)
    sender.start(3, meta)
    assert [(c.peer, c.offset) for c in sender.chunks()] == [(2, 0), (2, 100)]
    assert sender.chunks() == []
    sender.tick()
    assert [(c.peer, c.offset) for c in sender.chunks()] == [(2, 200), (3, 0)]


def test_resume_from_the_offset_the_receiver_has_staged() -> None:
    sender, meta = sender_of()
    sender.start(2, meta)
    sender.chunks()
    sender.acknowledge(2, meta, 700)  # it had staged more, from an earlier transfer
    assert offsets(sender.chunks()) == [700, 800, 900]


def test_retransmit_from_the_last_acknowledgement_after_silence() -> None:
    sender, meta = sender_of(retry_ticks=3)
    sender.start(2, meta)
    sender.chunks()
    sender.acknowledge(2, meta, 100)
    sender.chunks()
    for _ in range(3):
        sender.tick()
    assert offsets(sender.chunks()) == [100, 200, 300]
    assert sender.counters["transfer.retransmit"] == 1


def test_a_lower_acknowledgement_rewinds_the_transfer() -> None:
    sender, meta = sender_of()
    sender.start(2, meta)
    sender.chunks()
    sender.acknowledge(2, meta, 300)
    sender.acknowledge(2, meta, 0)  # the receiver rejected what it had staged
    assert offsets(sender.chunks()) == [0, 100, 200]


def test_the_last_chunk_is_marked_done_and_may_be_short() -> None:
    sender, meta = sender_of(window=20)
    sender.start(2, meta)
    chunks = sender.chunks()
    assert [c.done for c in chunks] == [False] * 10 + [True]
    assert len(chunks[-1].data) == 24
    assert b"".join(c.data for c in chunks) == DATA


def test_an_empty_snapshot_is_one_empty_last_chunk() -> None:
    sender, meta = sender_of(b"")
    sender.start(2, meta)
    [chunk] = sender.chunks()
    assert chunk.offset == 0 and chunk.data == b"" and chunk.done


def test_abandon_superseded_transfer_for_a_newer_snapshot() -> None:
    store, meta = store_with()
    sender = SnapshotSender(store, TransferConfig(chunk_size=100, window=3))
    sender.start(2, meta)
    sender.chunks()
    newer = SnapshotMeta(12, 3, None, meta.size, meta.checksum)
    store.keep(newer, DATA)
    assert sender.start(2, newer)
    assert sender.counters["transfer.superseded"] == 1
    sender.acknowledge(2, meta, 100)  # an acknowledgement of the old one is stale
    assert sender.counters["transfer.stale_ack"] == 1
    assert next((c.meta, c.offset) for c in sender.chunks()) == (newer, 0)


def test_abandon_all_when_the_sender_steps_down() -> None:
    sender, meta = sender_of()
    sender.start(2, meta)
    sender.start(3, meta)
    sender.abandon_all()
    assert sender.chunks() == [] and sender.sending(2) is None


def test_bad_limits_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        TransferConfig(chunk_size=0)
    with pytest.raises(ConfigError):
        TransferConfig(chunks_per_tick=-1)


def test_receiver_stages_in_order_and_answers_gaps_with_its_end() -> None:
    _, meta = store_with()
    receiver = SnapshotReceiver(MemorySnapshotStore())
    first = receiver.receive(meta, 0, DATA[:100])
    assert first.stage is not None and first.ack == 100 and not first.complete
    gap = receiver.receive(meta, 300, DATA[300:400])
    assert gap.stage is None and gap.ack == 100
    duplicate = receiver.receive(meta, 0, DATA[:100])
    assert duplicate.stage is None and duplicate.ack == 100


def test_receiver_asks_to_install_only_when_every_byte_is_staged() -> None:
    _, meta = store_with()
    receiver = SnapshotReceiver(MemorySnapshotStore())
    results = [receiver.receive(meta, o, DATA[o : o + 512]) for o in (0, 512)]
    assert [r.complete for r in results] == [False, True]
    assert receiver.installing == meta
    assert receiver.finished(meta) and receiver.receiving is None


def test_receiver_resumes_from_what_its_store_staged_before_a_restart() -> None:
    _, meta = store_with()
    store = MemorySnapshotStore()
    receiver = SnapshotReceiver(store)
    store.apply([receiver.receive(meta, 0, DATA[:100]).stage])  # type: ignore[list-item]
    store.sync()
    again = SnapshotReceiver(store)
    assert again.receiving == meta
    assert again.receive(meta, 0, DATA[:100]).ack == 100


def test_receiver_answers_a_chunk_of_an_unknown_snapshot_past_zero_with_zero() -> None:
    _, meta = store_with()
    receiver = SnapshotReceiver(MemorySnapshotStore())
    assert receiver.receive(meta, 200, DATA[200:300]).ack == 0


def _run_lossy(seed: int) -> tuple[MemorySnapshotStore, SnapshotMeta, int]:
    """Sender and receiver over a network that loses, duplicates and reorders."""
    rng = random.Random(seed)
    source, meta = store_with()
    sender = SnapshotSender(
        source, TransferConfig(chunk_size=64, window=4, retry_ticks=3, max_retries=1000)
    )
    store = MemorySnapshotStore()
    receiver = SnapshotReceiver(store)
    sender.start(2, meta)
    to_receiver: list[OutgoingChunk] = []
    to_sender: list[int] = []
    for step in range(2000):
        to_receiver += sender.chunks()
        rng.shuffle(to_receiver)
        for chunk in to_receiver[: rng.randint(0, 3)]:
            if rng.random() < 0.3:
                continue  # lost
            got = receiver.receive(chunk.meta, chunk.offset, chunk.data)
            if got.stage is not None:
                store.apply([got.stage])
                store.sync()
            to_sender += [got.ack] * rng.choice((1, 1, 2))  # sometimes duplicated
            if got.complete:
                store.install(meta)
                receiver.finished(meta)
                return store, meta, step
        del to_receiver[:3]
        rng.shuffle(to_sender)
        for ack in to_sender[:2]:
            if rng.random() < 0.8:
                sender.acknowledge(2, meta, ack)
        del to_sender[:2]
        sender.tick()
    raise AssertionError("the transfer never completed")


@pytest.mark.parametrize("seed", range(20))
def test_a_transfer_over_a_lossy_network_installs_exactly_the_senders_bytes(seed: int) -> None:
    store, meta, _ = _run_lossy(seed)
    assert store.open(meta).read(0, meta.size + 1) == DATA


def test_give_up_after_max_retries_without_an_answer() -> None:
    sender, meta = sender_of(retry_ticks=1, max_retries=2)
    sender.start(2, meta)
    sender.chunks()
    for _ in range(3):
        sender.tick()
    assert sender.sending(2) is None
    assert sender.counters["transfer.timed_out"] == 1
