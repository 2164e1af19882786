"""Errors of the trio runtime and its client, and how request outcomes travel.

A request ends in one of three ways, and the errors say which:

- it took effect: the call returns the state machine's answer;
- it definitely did not: ``NotLeader``, ``Unavailable``, ``RequestRejected``,
  ``NodeStopped`` (for a request that was never handed to the core), and
  ``ApplyError`` (the state machine refused it, on every replica alike);
- nobody can tell: ``IndeterminateResult`` - it may have taken effect, or may
  still; retrying the same session command is safe (it is de-duplicated).
"""

from __future__ import annotations

from pyconsensus.core.errors import (
    ConsensusError,
    NotLeader,
    OutcomeUnknown,
    ProposalDropped,
    ProposalTooLarge,
)
from pyconsensus.rsm import ApplyError, MalformedCommand, SessionExpired, StaleRequest
from pyconsensus.rsm.replicated import Completed, Failed, Indeterminate, Outcome
from pyconsensus.service.messages import Reply, ReplyStatus


class Unavailable(ConsensusError):
    """No node took the request before the deadline; it did not take effect
    (every attempt failed definitely, or none could be made)."""


class IndeterminateResult(ConsensusError):
    """The deadline passed (or the connection broke) after the request may have
    reached the cluster: it may or may not have taken effect. ``cause`` is the
    last thing that went wrong."""

    def __init__(self, message: str, cause: str = "") -> None:
        self.cause = cause
        super().__init__(message)

    def __reduce__(self) -> tuple[type[IndeterminateResult], tuple[str, str]]:
        return (type(self), (str(self), self.cause))


class RequestRejected(ConsensusError):
    """The cluster refused the request for good (it is too large, its session
    expired, it was malformed...): retrying it unchanged will not help.
    ``code`` names the reason (see ``pyconsensus.service.Reply``)."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(f"{code}: {message}")

    def __reduce__(self) -> tuple[type[RequestRejected], tuple[str, str]]:
        return (type(self), (self.code, str(self)))


class Forbidden(RequestRejected):
    """The client's role does not allow the request (``identity.Role``); it
    did not take effect. ``code`` is ``"forbidden"``."""

    def __init__(self, message: str) -> None:
        super().__init__("forbidden", message)

    def __reduce__(self) -> tuple[type[Forbidden], tuple[str]]:  # type: ignore[override]
        return (type(self), (self.args[0].removeprefix("forbidden: "),))


class NodeStopped(ConsensusError):
    """The node is shutting down (or stopped) and takes no more requests."""


class BadRequest(ConsensusError):
    """The request's session numbers are inconsistent (e.g. ``first_unacked``
    above ``seq``); it was not handed to the state machine."""


_CODES: dict[type[ConsensusError], str] = {
    NotLeader: "not_leader",
    ProposalDropped: "dropped",
    OutcomeUnknown: "outcome_unknown",
    ProposalTooLarge: "too_large",
    SessionExpired: "session_expired",
    StaleRequest: "stale",
    MalformedCommand: "malformed",
    ApplyError: "apply_error",
    NodeStopped: "stopping",
    BadRequest: "bad_request",
    Unavailable: "unavailable",
    IndeterminateResult: "indeterminate",
}

BUSY_CODES = frozenset({"busy", "overloaded"})
"""Failure codes of a node that is well but holds too many requests (``busy``:
the node's limit, ``overloaded``: the connection's): the request was not taken;
retry at the same node after a backoff."""

RETRYABLE_CODES = (
    frozenset({"not_leader", "dropped", "stopping", "unavailable", "outcome_unknown"}) | BUSY_CODES
)
"""Failure codes after which a client may retry the same command elsewhere."""


def error_code(error: BaseException) -> str:
    """The wire code of ``error``."""
    for cls in type(error).__mro__:
        code = _CODES.get(cls)
        if code is not None:
            return code
    return "error"


def outcome_to_reply(outcome: Outcome, request_id: int) -> Reply:
    """The ``Reply`` a node sends for ``outcome``."""
    if isinstance(outcome, Completed):
        return Reply(request_id, ReplyStatus.OK, outcome.result, outcome.index, "", "", None)
    error = outcome.error
    hint = error.leader_hint if isinstance(error, NotLeader) else None
    index = getattr(error, "index", None)
    status = ReplyStatus.FAILED if isinstance(outcome, Failed) else ReplyStatus.INDETERMINATE
    return Reply(
        request_id,
        status,
        b"",
        index if isinstance(index, int) else 0,
        error_code(error),
        str(error),
        hint,
    )


def reply_to_outcome(reply: Reply, request_id: int) -> Outcome:
    """The ``Outcome`` a ``Reply`` stands for, under the caller's ``request_id``."""
    if reply.status == ReplyStatus.OK:
        return Completed(request_id, reply.result, reply.index)
    error = reply_error(reply)
    if reply.status == ReplyStatus.FAILED:
        return Failed(request_id, error)
    return Indeterminate(request_id, error)


def reply_error(reply: Reply) -> ConsensusError:
    """The typed error a failed or indeterminate ``Reply`` carries."""
    code = reply.error
    if code == "not_leader":
        return NotLeader(reply.leader_hint)
    if code == "dropped":
        return ProposalDropped(reply.index)
    if code == "outcome_unknown":
        return OutcomeUnknown(reply.index or None)
    if code == "stopping":
        return NodeStopped(reply.message)
    if code == "unavailable":
        return Unavailable(reply.message)
    if code == "indeterminate":
        return IndeterminateResult(reply.message, reply.message)
    if code == "forbidden":
        return Forbidden(reply.message)
    if code == "apply_error":
        return ApplyError(reply.message, reply.index)
    return RequestRejected(code, reply.message)
