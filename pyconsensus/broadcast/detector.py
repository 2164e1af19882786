"""A failure detector built from heartbeats and ticks.

It is *eventually perfect* (Chandra and Toueg's class diamond-P) on a network
that is eventually timely: a member that crashes is suspected for good once
its timeout elapses (completeness), and a member that is wrongly suspected has
its timeout raised each time, so on a network whose delays are bounded the
wrong suspicions stop (eventual accuracy).

Incarnations make one kind of crash certain rather than suspected: a heartbeat
from incarnation 3 of a member proves that its incarnations 1 and 2 are gone,
even if it restarted faster than any timeout could notice.
"""

from __future__ import annotations

from collections.abc import Iterable

from pyconsensus.core.types import NodeId


class FailureDetector:
    """Tracks which peers are suspected, and each peer's latest incarnation."""

    __slots__ = (
        "_backoff",
        "_incarnation",
        "_silence",
        "_suspected",
        "_timeout",
        "false_suspicions",
    )

    def __init__(self, peers: Iterable[NodeId], timeout_ticks: int, backoff_ticks: int) -> None:
        peer_list = list(peers)
        self._silence: dict[NodeId, int] = dict.fromkeys(peer_list, 0)
        self._timeout: dict[NodeId, int] = dict.fromkeys(peer_list, timeout_ticks)
        self._incarnation: dict[NodeId, int] = dict.fromkeys(peer_list, 0)
        self._suspected: set[NodeId] = set()
        self._backoff = backoff_ticks
        self.false_suspicions = 0

    def tick(self) -> list[NodeId]:
        """One tick passes; returns the peers suspected from now on."""
        newly: list[NodeId] = []
        for peer, before in self._silence.items():
            self._silence[peer] = before + 1
            if before + 1 >= self._timeout[peer] and peer not in self._suspected:
                self._suspected.add(peer)
                newly.append(peer)
        return newly

    def heard_from(self, peer: NodeId, incarnation: int) -> bool:
        """``peer`` showed it is alive at ``incarnation``. True if that is a
        newer incarnation than any seen so far (so the older ones crashed).

        News from an incarnation older than one already seen is stale and ignored.
        """
        known = self._incarnation[peer]
        if incarnation < known:
            return False
        self._silence[peer] = 0
        newer = incarnation > known
        if newer:
            self._incarnation[peer] = incarnation
        if peer in self._suspected:
            self._suspected.discard(peer)
            if not newer:
                # The very incarnation we suspected is alive: be more patient.
                self.false_suspicions += 1
                self._timeout[peer] += self._backoff
        return newer

    def learn_incarnation(self, peer: NodeId, incarnation: int) -> bool:
        """Record that ``peer`` reached ``incarnation`` (from a message that is
        no sign of life, such as a relayed one). True if that is news."""
        if incarnation > self._incarnation[peer]:
            self._incarnation[peer] = incarnation
            return True
        return False

    def suspects(self, peer: NodeId) -> bool:
        return peer in self._suspected

    def incarnation(self, peer: NodeId) -> int:
        """The latest incarnation of ``peer`` seen (0: none yet)."""
        return self._incarnation[peer]

    def crashed(self, peer: NodeId, incarnation: int) -> bool:
        """Whether ``incarnation`` of ``peer`` is suspected or known to have crashed."""
        return peer in self._suspected or self._incarnation[peer] > incarnation

    def timeout(self, peer: NodeId) -> int:
        """The current timeout for ``peer``, in ticks."""
        return self._timeout[peer]
