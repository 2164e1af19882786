"""``StorageWriter``: writes run one at a time in the writer thread, in order,
and a failed write raises in the task that asked for it."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import trio

from pyconsensus.adapters.trio.writer import StorageWriter
from pyconsensus.core.errors import StorageError
from pyconsensus.core.ready import Write
from pyconsensus.core.storage import MemoryStorage
from pyconsensus.core.types import Entry


class RecordingStorage(MemoryStorage):
    def __init__(self, fail_at: int | None = None) -> None:
        super().__init__()
        self.threads: list[str] = []
        self.fail_at = fail_at

    def write(self, write: Write) -> None:
        self.threads.append(threading.current_thread().name)
        if write.entries and write.entries[0].index == self.fail_at:
            raise StorageError("disk on fire")
        super().write(write)


async def test_writes_happen_in_order_in_the_writer_thread() -> None:
    storage = RecordingStorage()
    writer = StorageWriter(storage, "writer-under-test")
    try:
        for index in range(1, 6):
            await writer.write(Write(entries=[Entry(index, 1)]))
    finally:
        writer.close()
    assert [e.index for e in storage.entries(1, 10)] == [1, 2, 3, 4, 5]
    assert set(storage.threads) == {"writer-under-test"}


async def test_a_failed_write_raises_in_the_caller_and_no_later_write_is_attempted() -> None:
    # Writes may be queued behind one another (the driver's write-behind):
    # once one failed, carrying out a later one would make a non-prefix durable.
    storage = RecordingStorage(fail_at=2)
    writer = StorageWriter(storage)
    try:
        await writer.write(Write(entries=[Entry(1, 1)]))
        with pytest.raises(StorageError, match="disk on fire"):
            await writer.write(Write(entries=[Entry(2, 1)]))
        with pytest.raises(StorageError, match="disk on fire"):
            await writer.write(Write(metadata={"k": 1}))
    finally:
        writer.close()
    assert storage.last_index() == 1 and storage.metadata() == {}


async def test_submitted_writes_finish_in_order_and_report_in_the_event_loop() -> None:
    storage = RecordingStorage()
    writer = StorageWriter(storage)
    finished: list[int] = []
    done = trio.Event()

    def report(index: int) -> Callable[[BaseException | None], None]:
        def finish(error: BaseException | None) -> None:
            assert error is None
            finished.append(index)
            if index == 5:
                done.set()

        return finish

    try:
        for index in range(1, 6):
            writer.submit(Write(entries=[Entry(index, 1)]), report(index))
        await done.wait()
    finally:
        writer.close()
    assert finished == [1, 2, 3, 4, 5] and storage.last_index() == 5


async def test_a_write_in_flight_finishes_even_when_its_caller_is_cancelled() -> None:
    storage = RecordingStorage()
    writer = StorageWriter(storage)
    try:
        with trio.CancelScope() as scope:
            scope.cancel()
            await writer.write(Write(entries=[Entry(1, 1)]))
        assert storage.last_index() == 1
    finally:
        writer.close()
