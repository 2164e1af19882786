"""The simulated network: delays, loss, duplication, reordering and partitions."""

from __future__ import annotations

from collections.abc import Iterable
from random import Random

import attrs

from pyconsensus.core.errors import ConfigError
from pyconsensus.core.types import NodeId


def _probability(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{attribute.name} must be a probability in [0, 1], got {value!r}")


@attrs.frozen(slots=True)
class NetworkConfig:
    """How the network treats each message. Delays are virtual milliseconds.

    With ``reorder`` off, each directed link delivers in send order (like one
    TCP connection); with it on, every message draws its own delay.
    """

    min_delay_ms: int = 1
    max_delay_ms: int = 5
    loss: float = attrs.field(default=0.0, validator=_probability)
    duplicate: float = attrs.field(default=0.0, validator=_probability)
    reorder: bool = False
    corrupt: float = attrs.field(default=0.0, validator=_probability)
    """Probability that a snapshot chunk arrives with one byte flipped (the
    transfer must notice at install and start again)."""

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.min_delay_ms <= self.max_delay_ms:
            raise ConfigError(
                f"need 0 <= min_delay_ms <= max_delay_ms, got "
                f"{self.min_delay_ms} and {self.max_delay_ms}"
            )


class Network:
    """Decides when (and whether) each message arrives."""

    __slots__ = ("_blocked", "_last_arrival", "_rng", "config")

    def __init__(self, config: NetworkConfig, rng: Random) -> None:
        self.config = config
        self._rng = rng
        self._blocked: set[tuple[NodeId, NodeId]] = set()
        self._last_arrival: dict[tuple[NodeId, NodeId], int] = {}

    # -- partitions ------------------------------------------------------

    def blocked(self, src: NodeId, dst: NodeId) -> bool:
        return (src, dst) in self._blocked

    def block(self, src: NodeId, dst: NodeId) -> None:
        """Drop everything sent from ``src`` to ``dst`` (one way)."""
        self._blocked.add((src, dst))

    def partition(self, groups: Iterable[Iterable[NodeId]]) -> None:
        """Nodes in different groups cannot reach each other (both ways)."""
        sets = [frozenset(g) for g in groups]
        for i, left in enumerate(sets):
            for right in sets[i + 1 :]:
                for a in left:
                    for b in right:
                        self._blocked.add((a, b))
                        self._blocked.add((b, a))

    def heal(self) -> None:
        self._blocked.clear()

    @property
    def blocked_links(self) -> frozenset[tuple[NodeId, NodeId]]:
        return frozenset(self._blocked)

    # -- delivery --------------------------------------------------------

    def arrivals(self, src: NodeId, dst: NodeId, now: int) -> list[int]:
        """Arrival times for one message sent now: empty if lost, two if duplicated."""
        config = self.config
        rng = self._rng
        if config.loss and rng.random() < config.loss:
            return []
        copies = 2 if config.duplicate and rng.random() < config.duplicate else 1
        times = []
        for _ in range(copies):
            at = now + rng.randint(config.min_delay_ms, config.max_delay_ms)
            if not config.reorder:
                link = (src, dst)
                at = max(at, self._last_arrival.get(link, 0))
                self._last_arrival[link] = at
            times.append(at)
        return times
