"""The codec's errors. Both are ``ConsensusError`` so a driver can catch one family."""

from __future__ import annotations

from pyconsensus.core.errors import ConsensusError


class DecodeError(ConsensusError, ValueError):
    """A frame is not a valid encoding of a registered type.

    Raised for *every* problem with the input - truncated or oversized frames,
    unknown versions or tags, malformed CBOR, wrong field types, values out of
    range - and never any other exception. ``path`` names the offending field
    (``"AppendEntries.entries.term[3]"``) when the problem is inside the body.
    """

    def __init__(self, message: str, path: str | None = None) -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)

    def __reduce__(self) -> tuple[type[DecodeError], tuple[str, str | None]]:
        message = str(self)
        if self.path and message.startswith(f"{self.path}: "):
            message = message[len(self.path) + 2 :]
        return (type(self), (message, self.path))


class EncodeError(ConsensusError, TypeError):
    """An object cannot be encoded: its type is not registered, or a field holds
    a value the wire format cannot carry."""
