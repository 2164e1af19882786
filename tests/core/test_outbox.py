"""The Outbox keeps buffered entries consistent with truncations and snapshots,
so the Write it produces has the same effect as the events that built it."""

from __future__ import annotations

from pyconsensus.core.outbox import Outbox
from pyconsensus.core.ready import Write
from pyconsensus.core.snapshots import SnapshotMeta, SnapshotStage, checksum, write_snapshot
from pyconsensus.core.storage import MemoryStorage
from pyconsensus.core.types import Entry


def test_an_empty_outbox_produces_an_empty_batch() -> None:
    outbox = Outbox()
    assert not outbox.has_output()
    assert outbox.take().is_empty()


def test_truncating_drops_buffered_entries_too() -> None:
    outbox = Outbox()
    outbox.put([Entry(5, 1), Entry(6, 1), Entry(7, 1)])
    outbox.truncate(6)
    outbox.put_one(Entry(6, 2))
    write = outbox.take().write
    assert write is not None
    assert write.truncate_from == 6
    assert [(e.index, e.term) for e in write.entries] == [(5, 1), (6, 2)]


def test_a_discarding_snapshot_replaces_everything_buffered() -> None:
    outbox = Outbox()
    outbox.put([Entry(1, 1), Entry(2, 1)])
    outbox.snapshot(meta(10, 3), discard_log=True, restore=True)
    ready = outbox.take()
    assert ready.restore == meta(10, 3)
    assert ready.write is not None
    assert (ready.write.entries, ready.write.truncate_from) == ([], 11)


def test_the_write_has_the_same_effect_as_the_operations() -> None:
    """Applying the combined Write to storage equals applying each step."""
    outbox = Outbox()
    direct = MemoryStorage()
    steps: list[Write] = []
    outbox.put([Entry(i, 1) for i in range(1, 6)])
    steps.append(Write(entries=[Entry(i, 1) for i in range(1, 6)]))
    outbox.truncate(4)
    steps.append(Write(truncate_from=4))
    outbox.put([Entry(4, 2), Entry(5, 2)])
    steps.append(Write(entries=[Entry(4, 2), Entry(5, 2)]))
    snapshot = write_snapshot(direct.snapshots, 2, 1, b"")
    outbox.snapshot(snapshot, discard_log=False, restore=False)
    steps.append(Write(snapshot=snapshot))
    outbox.set_metadata("k", 1)
    steps.append(Write(metadata={"k": 1}))
    for step in steps:
        direct.write(step)
    combined = MemoryStorage()
    combined.snapshots.keep(snapshot, b"")
    write = outbox.take().write
    assert write is not None
    combined.write(write)
    assert combined.entries(0, 100) == direct.entries(0, 100)
    assert combined.snapshot() == direct.snapshot()
    assert combined.metadata() == direct.metadata()


def meta(index: int, term: int) -> SnapshotMeta:
    return SnapshotMeta(index, term, None, 1, checksum(b"s"))


def test_staged_parts_that_continue_each_other_merge_into_one() -> None:
    outbox = Outbox()
    outbox.stage(SnapshotStage(meta(10, 3), 0, b"ab"))
    outbox.stage(SnapshotStage(meta(10, 3), 2, b"cd"))
    write = outbox.take().write
    assert write is not None and write.stage == SnapshotStage(meta(10, 3), 0, b"abcd")


def test_a_stage_of_another_snapshot_from_zero_replaces_the_held_one() -> None:
    outbox = Outbox()
    outbox.stage(SnapshotStage(meta(10, 3), 0, b"ab"))
    outbox.stage(SnapshotStage(meta(12, 3), 0, b"x"))
    write = outbox.take().write
    assert write is not None and write.stage == SnapshotStage(meta(12, 3), 0, b"x")
