"""``Overlay``: a copy-on-write layer over a dict, for point-in-time snapshots.

While a snapshot of a map is being read (in another thread), the map itself
must not change; copying it first would cost time and memory in proportion
to the state. Instead the map is frozen as the ``base`` of an ``Overlay`` and
every change goes into the overlay's own small dict until the snapshot is
done, when ``merged()`` folds the changes back into the base - work in
proportion to what changed, not to the state.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping


class Overlay(MutableMapping[bytes, bytes]):
    """A mutable mapping that reads through to a frozen ``base`` dict and
    keeps its own changes (``None`` marks a deleted key)."""

    __slots__ = ("_len", "base", "changes")

    def __init__(self, base: dict[bytes, bytes]) -> None:
        self.base = base
        self.changes: dict[bytes, bytes | None] = {}
        self._len = len(base)

    def __getitem__(self, key: bytes) -> bytes:
        changes = self.changes
        if key in changes:
            value = changes[key]
            if value is None:
                raise KeyError(key)
            return value
        return self.base[key]

    def __contains__(self, key: object) -> bool:
        changes = self.changes
        if key in changes:
            return changes[key] is not None
        return key in self.base

    def __setitem__(self, key: bytes, value: bytes) -> None:
        if key not in self:
            self._len += 1
        self.changes[key] = value

    def __delitem__(self, key: bytes) -> None:
        if key not in self:
            raise KeyError(key)
        self.changes[key] = None
        self._len -= 1

    def __iter__(self) -> Iterator[bytes]:
        changes = self.changes
        for key in self.base:
            if key not in changes:
                yield key
        for key, value in changes.items():
            if value is not None:
                yield key

    def __len__(self) -> int:
        return self._len

    def merged(self) -> dict[bytes, bytes]:
        """Fold the changes into the base and return it (the base is no longer
        frozen: whoever read it must be done)."""
        base = self.base
        for key, value in self.changes.items():
            if value is None:
                base.pop(key, None)
            else:
                base[key] = value
        self.changes = {}
        return base
