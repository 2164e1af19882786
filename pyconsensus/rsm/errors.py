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
