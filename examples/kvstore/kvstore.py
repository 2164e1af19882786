"""The replicated state machine of the example key-value service.

Commands and answers are small JSON documents, so that they are easy to read
in a log and to type; underneath, the data lives in pyconsensus's own
key-value machine (``pyconsensus.rsm.kv``), which supplies delete and the
bounded, ordered range scan. ``apply`` must give the same answer on every
replica for the same state and command: no clocks, no randomness, and no
exceptions - a bad command is answered with an error.

=========  ===========================================  =====================================
op         fields                                       answer
=========  ===========================================  =====================================
put        ``key``, ``value``                           ``{"ok": true}``
cas        ``key``, ``expected`` (null: absent),        ``{"ok": true}`` or
           ``value``                                    ``{"ok": false, "value": current}``
delete     ``key``                                      ``{"ok": existed}``
get        ``key`` (a query)                            ``{"value": value or null}``
range      ``key`` (start), ``end`` (null: no end),     ``{"items": [[key, value], ...],
           ``limit`` (a query)                          "more": bool}``
=========  ===========================================  =====================================
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from typing import Any

from pyconsensus.rsm import kv
from pyconsensus.rsm.streaming import SnapshotSource

MAX_LIMIT = 1000
"""The most pairs one range answer holds (the shipped machine also bounds its bytes)."""


def command(op: str, key: str, **fields: Any) -> bytes:
    """Encode a command (``put``, ``cas``, ``delete``) or query (``get``, ``range``)."""
    return json.dumps({"op": op, "key": key, **fields}, sort_keys=True).encode()


class KVStore:
    """A map from strings to strings: put, get, compare-and-set, delete, range."""

    def __init__(self) -> None:
        self.store = kv.KVStateMachine()

    @property
    def data(self) -> dict[str, str]:
        """The whole map, decoded (for tests and tools)."""
        return {k.decode(): v.decode() for k, v in self.store.data.items()}

    def apply(self, raw: bytes) -> bytes:
        try:
            request = json.loads(raw)
            op, key = request["op"], _utf8(request["key"])
            value = str(request.get("value", "")).encode()
            expected = request.get("expected")
            if op == "put":
                binary = kv.put(key, value)
            elif op == "cas":  # expected None means "only if the key is absent"
                binary = kv.cas(key, None if expected is None else str(expected).encode(), value)
            elif op == "delete":
                binary = kv.delete(key)
            else:
                return _answer(error=f"unknown command {op!r}")
        except (ValueError, KeyError, TypeError):  # not JSON, or a key over 65535 bytes
            return _answer(error="malformed command")
        answer = self.store.apply(binary)
        if op == "put":
            return _answer(ok=True)
        if op == "delete":
            return _answer(ok=kv.decode_delete(answer))
        if kv.decode_cas(answer):
            return _answer(ok=True)
        return _answer(ok=False, value=self._get(key))

    def query(self, raw: bytes) -> bytes:
        try:
            request = json.loads(raw)
            op, key = request.get("op"), _utf8(request.get("key", ""))
            if op == "get":
                return _answer(value=self._get(key))
            if op == "range":
                end = request.get("end")
                limit = min(int(request.get("limit", 100)), MAX_LIMIT)
                query = kv.range_query(key, None if end is None else _utf8(end), limit)
                page = kv.decode_range(self.store.query(query))
                items = [[k.decode(), v.decode()] for k, v in page.items]
                return _answer(items=items, more=page.more)
        except kv.EntryTooLarge as exc:
            return _answer(error=f"the value of {exc.key.decode()!r} is too large for a range")
        except (ValueError, TypeError, AttributeError):
            return _answer(error="malformed query")
        return _answer(error="the queries are get and range")

    def _get(self, key: bytes) -> str | None:
        value = kv.decode_get(self.store.query(kv.get(key)))
        return None if value is None else value.decode()

    def snapshot(self) -> bytes:
        return self.store.snapshot()

    # Streaming snapshots (pyconsensus.rsm.streaming): the runtime takes a
    # point-in-time source here, in its loop, and reads it in a worker
    # thread while commands go on applying; the KV machine freezes its map
    # and keeps later changes in a copy-on-write overlay meanwhile, so a
    # large store is never copied whole.
    def snapshot_source(self) -> SnapshotSource:
        return self.store.snapshot_source()

    def restore_chunks(self, chunks: Iterable[bytes]) -> None:
        stream = iter(chunks)
        first = next(stream, b"")
        if first[:1] == b"{":  # the earlier, all-JSON version: small, restore it whole
            self.restore(first + b"".join(stream))
            return
        self.store.restore_chunks(itertools.chain((first,), stream))

    def restore(self, data: bytes) -> None:
        if data[:1] == b"{":  # a snapshot of the earlier, all-JSON version
            self.store = kv.KVStateMachine()
            for key, value in json.loads(data).items():
                self.store.apply(kv.put(key.encode(), value.encode()))
            return
        self.store.restore(data)


def _utf8(text: object) -> bytes:
    if not isinstance(text, str):
        raise TypeError("keys and values are strings")
    return text.encode()


def _answer(**fields: Any) -> bytes:
    return json.dumps(fields, sort_keys=True).encode()
