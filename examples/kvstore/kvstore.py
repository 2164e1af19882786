"""The replicated state machine of the example key-value service.

Commands and answers are small JSON documents, so that they are easy to read
in a log; any deterministic encoding works. ``apply`` must give the same
answer on every replica for the same state and command: no clocks, no
randomness, and no exceptions - a bad command is answered with an error.
"""

from __future__ import annotations

import json
from typing import Any


def command(op: str, key: str, **fields: Any) -> bytes:
    """Encode a command (``put``, ``cas``, ``delete``) or query (``get``)."""
    return json.dumps({"op": op, "key": key, **fields}, sort_keys=True).encode()


class KVStore:
    """A map from strings to strings: put, get, compare-and-set, delete."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    def apply(self, raw: bytes) -> bytes:
        try:
            request = json.loads(raw)
            op, key = request["op"], request["key"]
        except (ValueError, KeyError, TypeError):
            return _answer(error="malformed command")
        if op == "put":
            self.data[key] = str(request.get("value", ""))
            return _answer(ok=True)
        if op == "cas":
            # expected None means "only if the key is absent".
            if self.data.get(key) != request.get("expected"):
                return _answer(ok=False, value=self.data.get(key))
            self.data[key] = str(request.get("value", ""))
            return _answer(ok=True)
        if op == "delete":
            existed = self.data.pop(key, None) is not None
            return _answer(ok=existed)
        return _answer(error=f"unknown command {op!r}")

    def query(self, raw: bytes) -> bytes:
        try:
            request = json.loads(raw)
        except ValueError:
            return _answer(error="malformed query")
        if request.get("op") != "get":
            return _answer(error="only get is a query")
        return _answer(value=self.data.get(request.get("key")))

    def snapshot(self) -> bytes:
        return json.dumps(self.data, sort_keys=True).encode()

    def restore(self, data: bytes) -> None:
        self.data = json.loads(data)


def _answer(**fields: Any) -> bytes:
    return json.dumps(fields, sort_keys=True).encode()
