"""The application's side of replication: the ``StateMachine`` protocol."""

from __future__ import annotations

from typing import Protocol


class StateMachine(Protocol):
    """A deterministic state machine that pyconsensus replicates.

    Every replica applies the same commands in the same order, so ``apply``
    must depend only on the current state and the command: no clocks, no
    randomness, no I/O. It must not raise on bad input either - a malformed
    command reaches every replica, and each must answer it the same way
    (return an error result instead).
    """

    def apply(self, command: bytes) -> bytes:
        """Apply a committed command and return its result for the client."""
        ...

    def query(self, query: bytes) -> bytes:
        """Answer a read-only query from the current state (no change to it)."""
        ...

    def snapshot(self) -> bytes:
        """The whole state, as bytes that ``restore`` accepts."""
        ...

    def restore(self, data: bytes) -> None:
        """Replace the whole state with one taken by ``snapshot``."""
        ...
