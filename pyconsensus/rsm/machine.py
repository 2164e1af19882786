"""The application's side of replication: the ``StateMachine`` protocol."""

from __future__ import annotations

from typing import Protocol


class StateMachine(Protocol):
    """A deterministic state machine that pyconsensus replicates.

    Every replica applies the same commands in the same order, so ``apply``
    must depend only on the current state and the command: no clocks, no
    randomness, no I/O. A malformed command reaches every replica, and each
    must answer it the same way: return an error result, or raise
    ``ApplyError`` (``pyconsensus.rsm.errors``), which becomes the command's
    replicated answer. Any other exception stops the node
    (``StateMachineFailed``, naming the entry).

    Two optional methods are used when present: ``validate_command(command)``
    raises ``ApplyError`` to refuse a command before it is logged, and
    ``verify_snapshot(data)`` raises ``ValueError`` for bytes that
    ``restore`` would not accept (a received snapshot is checked before it
    is installed).
    """

    def apply(self, command: bytes) -> bytes:
        """Apply a committed command and return its result for the client
        (or raise ``ApplyError``, leaving the state unchanged)."""
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
