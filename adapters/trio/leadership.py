"""Leader-change notifications for programs that embed a node.

::

    node.on_leader_change(lambda change: print("leader is now", change.leader))

    with node.leader_changes() as changes:          # or as an async iterator
        async for change in changes:
            if change.is_me:
                start_background_jobs()

The runtime compares the core's view of the leader after every tick, so a
change is reported within one tick interval of the node learning it. One
``LeaderChange`` is reported per new leader (or per new term of the same
leader), and one when the node stops knowing a leader (an election runs);
terms that pass without a leader are not reported one by one.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import attrs
import trio

from pyconsensus.core.types import Role, Status

log = logging.getLogger("pyconsensus.trio")

BACKLOG = 64
"""Changes an iterator holds for a slow reader; beyond, the oldest go (the
newest, which says who leads now, is always kept)."""


@attrs.frozen(slots=True)
class LeaderChange:
    """This node's view of the leader changed."""

    node_id: int
    """The node reporting (the one you hold)."""
    leader: int | None
    """The leader it now follows, or ``None`` while it knows of none."""
    term: int
    """Raft term, ZAB epoch or packed Paxos ballot at the time of the change."""
    role: Role
    """The reporting node's own role."""
    previous: int | None
    """The leader before (``None``: there was none, or this is the first report)."""

    @property
    def is_me(self) -> bool:
        """Whether the reporting node itself now leads."""
        return self.leader == self.node_id


Callback = Callable[[LeaderChange], None]


class LeaderChanges:
    """An async iterator of ``LeaderChange``; ends when the node stops or the
    ``with`` block of ``Node.leader_changes`` exits."""

    def __init__(self) -> None:
        self._queue: deque[LeaderChange] = deque(maxlen=BACKLOG)
        self._arrived = trio.Event()
        self._closed = False

    def put(self, change: LeaderChange) -> None:
        self._queue.append(change)
        self._arrived.set()

    def close(self) -> None:
        self._closed = True
        self._arrived.set()

    def __aiter__(self) -> LeaderChanges:
        return self

    async def __anext__(self) -> LeaderChange:
        while not self._queue:
            if self._closed:
                raise StopAsyncIteration
            await self._arrived.wait()
            self._arrived = trio.Event()
        return self._queue.popleft()


class LeaderWatch:
    """Tells subscribers when a node's view of the leader changes (``check``)."""

    def __init__(self, node_id: int) -> None:
        self.node_id = node_id
        self._callbacks: list[Callback] = []
        self._iterators: list[LeaderChanges] = []
        self._leader: int | None = None
        self._seen: tuple[int | None, int | None] = (None, None)  # no leader: nothing to say

    def subscribe(self, callback: Callback) -> Callable[[], None]:
        """Call ``callback`` on every change; returns the function that stops it."""
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback) if callback in self._callbacks else None

    @contextmanager
    def changes(self) -> Iterator[LeaderChanges]:
        """An iterator of the changes from now on, for the ``with`` block."""
        iterator = LeaderChanges()
        self._iterators.append(iterator)
        try:
            yield iterator
        finally:
            iterator.close()
            if iterator in self._iterators:
                self._iterators.remove(iterator)

    def check(self, status: Status) -> None:
        """Report a change if ``status`` shows another leader, or the same
        leader in another term, than the last check did."""
        leader = status.leader
        seen = (leader, status.term if leader is not None else None)
        if seen == self._seen:
            return
        self._seen = seen
        change = LeaderChange(self.node_id, leader, status.term, status.role, self._leader)
        self._leader = leader
        for iterator in self._iterators:
            iterator.put(change)
        for callback in list(self._callbacks):
            try:
                callback(change)
            except Exception:  # an embedder's bug must not stop the node's clock
                log.exception("node %d: a leader-change callback failed", self.node_id)

    def close(self) -> None:
        """The node stops: every iterator ends."""
        for iterator in self._iterators:
            iterator.close()
