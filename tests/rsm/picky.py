"""A key-value state machine that refuses, validates and fails on cue (the
application-error tests of the rsm layer and of the runtime share it)."""

from __future__ import annotations

from pyconsensus.rsm import ApplyError, KVStateMachine


class Picky(KVStateMachine):
    """Refuses to apply a command that puts the value ``b"bad"``; fails
    unexpectedly on ``b"bug"``; validates away ``b"never"`` before logging."""

    def apply(self, command: bytes) -> bytes:
        if command.endswith(b"bad"):
            raise ApplyError("values may not be bad")
        if command.endswith(b"bug"):
            raise RuntimeError("a bug in apply")
        return super().apply(command)

    def validate_command(self, command: bytes) -> None:
        if command.endswith(b"never"):
            raise ApplyError("never is refused before it is logged")
