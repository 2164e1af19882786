"""``StorageWriter``: a node's storage writes in one dedicated thread.

``trio.to_thread.run_sync`` costs about 100 us of CPU per call (a thread from
its cache, a context copy, a limiter, the result's way back); a thread that
lives as long as the node and takes writes from a queue costs about half. The
event loop keeps running while a write is flushed: it receives, ticks and
serves clients, and whatever arrives meanwhile goes into the next batch.

Writes are carried out strictly in the order they were handed over; after a
failed write the later ones are not attempted (each gets the same error), so
what is durable is always a prefix of what was submitted.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Protocol

import trio

from pyconsensus.adapters.trio.loop import LoopCaller, loop_caller
from pyconsensus.core.ready import Write

_Done = Callable[[BaseException | None], None]


class Writes(Protocol):
    """What the writer needs of a storage: its ``write``."""

    def write(self, write: Write) -> None: ...


class StorageWriter:
    """Carries out ``storage.write`` calls one at a time in its own thread,
    started on the first write and stopped by ``close``."""

    def __init__(self, storage: Writes, name: str = "pyconsensus-storage") -> None:
        self.storage = storage
        self.name = name
        self._jobs: queue.SimpleQueue[tuple[Write, LoopCaller, _Done] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._failed: BaseException | None = None

    def submit(self, write: Write, done: _Done) -> None:
        """Queue ``storage.write(write)`` and return at once; ``done(error)``
        (``None`` on success) is called in the event loop once it finished."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()
        self._jobs.put((write, loop_caller(), done))

    async def write(self, write: Write) -> None:
        """``storage.write(write)`` in the writer thread. Not cancellable: a write
        that has started finishes (a thread cannot be interrupted mid-fsync, and
        the caller must know whether it happened); its error is raised here."""
        done = trio.Event()
        errors: list[BaseException | None] = []

        def finished(error: BaseException | None) -> None:
            errors.append(error)
            done.set()

        self.submit(write, finished)
        with trio.CancelScope(shield=True):
            await done.wait()
        if errors[0] is not None:
            raise errors[0]

    def close(self) -> None:
        """Stop the thread once the writes queued before are done."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._jobs.put(None)
            thread.join()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            write, call, finished = job
            error = self._failed
            if error is None:
                try:
                    self.storage.write(write)
                except BaseException as exc:  # handed to the waiting task, which raises it
                    error = self._failed = exc
            try:
                call(finished, error)
            except RuntimeError:  # pragma: no cover - the loop is gone
                return
