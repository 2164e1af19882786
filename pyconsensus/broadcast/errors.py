"""Errors specific to the broadcast primitives."""

from __future__ import annotations

from pyconsensus.core.errors import ConsensusError


class ReadUnsupported(ConsensusError):
    """Best-effort and reliable broadcast keep no common order, so there is no
    linearizable read point to give. Use ``AtomicBroadcast`` for reads."""

    def __init__(self) -> None:
        super().__init__(
            "broadcast without total order has no linearizable reads; use AtomicBroadcast"
        )

    def __reduce__(self) -> tuple[type[ReadUnsupported], tuple[()]]:
        return (type(self), ())
