"""Errors of the replicated-state-machine layer."""

from __future__ import annotations

from pyconsensus.core.errors import ConsensusError


class SessionExpired(ConsensusError):
    """The client's session is unknown to the state machine (it was evicted, or
    never opened) while the client claims earlier answers: the command was not
    applied, and earlier ones can no longer be de-duplicated. Open a new session
    (a new client id) and re-read the state before retrying."""

    def __init__(self, client_id: int) -> None:
        self.client_id = client_id
        super().__init__(f"session of client {client_id} expired; open a new session")

    def __reduce__(self) -> tuple[type[SessionExpired], tuple[int]]:
        return (type(self), (self.client_id,))


class StaleRequest(ConsensusError):
    """The command arrived after the client had moved past its sequence number
    (``first_unacked`` went beyond it): it was not applied by this copy. The
    client gave up on it earlier, so whether an earlier copy took effect is
    unknown to the client."""

    def __init__(self, client_id: int, seq: int) -> None:
        self.client_id = client_id
        self.seq = seq
        super().__init__(f"request {seq} of client {client_id} is older than the session allows")

    def __reduce__(self) -> tuple[type[StaleRequest], tuple[int, int]]:
        return (type(self), (self.client_id, self.seq))


class MalformedCommand(ConsensusError):
    """A committed entry is not a session command this layer can decode."""


class ApplyError(ConsensusError):
    """Raised by ``StateMachine.apply`` (or ``validate_command``) to refuse a
    command deterministically: the machine leaves its state unchanged, and
    the message becomes the command's replicated answer - the same on every
    replica, kept for retries and in snapshots - which the client receives as
    this error. The message must depend only on the state and the command.
    ``index`` is where the refusal was applied (0 if refused before logging).
    """

    def __init__(self, message: str, index: int = 0) -> None:
        self.index = index
        super().__init__(message)

    def __reduce__(self) -> tuple[type[ApplyError], tuple[str, int]]:
        return (type(self), (str(self), self.index))


class StateMachineFailed(ConsensusError):
    """``StateMachine.apply`` raised something other than ``ApplyError`` at
    entry ``index``: the replica cannot know whether the others would fail
    alike, so it stops rather than diverge. The entry is not counted as
    applied; after fixing the state machine, restarting the node applies the
    log again from its last snapshot (docs/security.md)."""

    def __init__(self, index: int, cause: str) -> None:
        self.index = index
        self.cause = cause
        super().__init__(
            f"the state machine raised {cause} at entry {index}; the node stopped "
            "(fix the state machine, then restart the node: it applies the entry again)"
        )

    def __reduce__(self) -> tuple[type[StateMachineFailed], tuple[int, str]]:
        return (type(self), (self.index, self.cause))
