"""``ReadIndexQueue``: linearizable reads waiting for a leader to confirm it leads.

The read protocol every leader-based core uses (Raft's ReadIndex, thesis 6.4;
the same round in ZAB and Multi-Paxos):

1. A read arrives at the leader. If its commit index is not known to be
   current yet (no entry of its own term/epoch/ballot committed), the read is
   ``defer``-red until it is; then it is ``start``-ed at the commit index.
2. ``start`` numbers a new round and asks for a broadcast: the leader's next
   heartbeats carry ``round`` and followers echo it back.
3. Each time a follower echoes a higher round, the core calls ``release`` with
   the highest round each node has confirmed; every read whose round a quorum
   confirmed comes out, in order, with the index at which it may be served.
4. A leader that steps down ``drain``-s the queue and fails what it held.

The queue holds no protocol state beyond that: the core keeps the confirmed
rounds (per follower), decides what the leader alone is (a single-voter
cluster answers at once, without a round), and turns released reads into
replies or messages. ``R`` is whatever the core needs to answer a read - a
request id, or (origin, request id) for a read forwarded by a follower.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Generic, TypeVar

from pyconsensus.core.quorum import Quorum
from pyconsensus.core.types import NodeId

R = TypeVar("R")


class ReadIndexQueue(Generic[R]):
    """Pending reads of one leader, oldest first (see the module docstring)."""

    __slots__ = ("_deferred", "_pending", "broadcast_due", "round")

    def __init__(self) -> None:
        self.round = 0
        """The latest round started; heartbeats carry it."""
        self.broadcast_due = False
        """A round started since the last ``take_broadcast``: heartbeats must go out."""
        self._pending: deque[tuple[int, R, int]] = deque()  # (round, read, index)
        self._deferred: list[R] = []

    def __len__(self) -> int:
        return len(self._pending) + len(self._deferred)

    def start(self, read: R, index: int) -> int:
        """Queue ``read`` to be served at ``index`` once a quorum confirms a new
        round; returns that round."""
        self.round += 1
        self._pending.append((self.round, read, index))
        self.broadcast_due = True
        return self.round

    def defer(self, read: R) -> None:
        """Hold ``read`` until the leader's commit index is known to be current."""
        self._deferred.append(read)

    def take_deferred(self) -> list[R]:
        """The deferred reads, in arrival order; they are the caller's now."""
        deferred, self._deferred = self._deferred, []
        return deferred

    def take_broadcast(self) -> bool:
        """Whether heartbeats are due for a new round (and clear the request)."""
        due, self.broadcast_due = self.broadcast_due, False
        return due

    def release(self, quorum: Quorum, confirmed: Mapping[NodeId, int]) -> list[tuple[R, int]]:
        """The reads (with their indices) whose round a quorum has confirmed.

        ``confirmed`` maps each node to the highest round it confirmed; the
        leader itself belongs in it with ``self.round``. Reads come out in the
        order they were started, and a read never overtakes an older one.
        """
        pending = self._pending
        released: list[tuple[R, int]] = []
        while pending:
            round_, read, index = pending[0]
            if not quorum.is_quorum([node for node, r in confirmed.items() if r >= round_]):
                break
            pending.popleft()
            released.append((read, index))
        return released

    def drain(self) -> list[R]:
        """Forget every read - started ones first, then deferred ones - and
        return them for the caller to fail (the leader stepped down)."""
        reads = [read for _, read, _ in self._pending]
        reads.extend(self._deferred)
        self._pending.clear()
        self._deferred = []
        self.broadcast_due = False
        return reads
