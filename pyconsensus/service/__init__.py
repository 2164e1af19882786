"""The service protocol: what nodes and clients say to each other besides the
consensus messages themselves - the connection handshake, client requests and
their replies, and status queries. Plain attrs data (no I/O); the trio runtime
(``pyconsensus.adapters.trio``) carries it in CBOR frames."""

from pyconsensus.service.messages import (
    WIRE_VERSION,
    ConnectionKind,
    Hello,
    Query,
    Refused,
    Reply,
    ReplyStatus,
    StatusReply,
    StatusRequest,
    Submit,
    Welcome,
)

__all__ = [
    "WIRE_VERSION",
    "ConnectionKind",
    "Hello",
    "Query",
    "Refused",
    "Reply",
    "ReplyStatus",
    "StatusReply",
    "StatusRequest",
    "Submit",
    "Welcome",
]
