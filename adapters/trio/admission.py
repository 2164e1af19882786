"""Client work, admitted and fed to the core in bounded helpings.

Ticks and peer messages go into the core the moment they arrive: they keep
the cluster alive (heartbeats, votes, acknowledgements). Client requests wait
here instead, and the driver feeds at most ``per_batch`` of them into the core
per turn of its loop, then lets the other tasks (ticks, peer connections) run
before the next helping. A request that finds the node already holding
``max_pending`` requests (waiting here or in the core) is refused at once with
a typed ``busy`` reply, which clients retry after a backoff: a burst of clients
delays clients, never heartbeats, and the node's memory stays bounded.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from pyconsensus.rsm.replicated import Outcome
from pyconsensus.service.messages import Query, Submit

Done = Callable[[Outcome | None], None]
"""Gets a request's outcome (``None`` if the node stopped first)."""


class Admission:
    """The queue of client requests not yet handed to the core."""

    __slots__ = ("_queue", "max_pending", "per_batch", "refused")

    def __init__(self, max_pending: int, per_batch: int) -> None:
        self.max_pending = max_pending
        self.per_batch = per_batch
        self.refused = 0
        self._queue: deque[tuple[Submit | Query, Done]] = deque()

    def __len__(self) -> int:
        return len(self._queue)

    def admit(self, request: Submit | Query, done: Done, in_core: int) -> bool:
        """Queue ``request`` unless the node holds ``max_pending`` requests
        already (``in_core`` of them handed to the core); False if refused."""
        if len(self._queue) + in_core >= self.max_pending:
            self.refused += 1
            return False
        self._queue.append((request, done))
        return True

    def take(self) -> list[tuple[Submit | Query, Done]]:
        """The next helping: at most ``per_batch`` requests, oldest first."""
        queue = self._queue
        count = min(len(queue), self.per_batch)
        return [queue.popleft() for _ in range(count)]

    def release(self) -> None:
        """Answer every queued request with ``None`` (the node stops)."""
        queue, self._queue = self._queue, deque()
        for _, done in queue:
            done(None)
