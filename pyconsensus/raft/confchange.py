"""How a Raft node keeps track of its configuration.

A configuration takes effect on every node as soon as its entry is *appended*
to that node's log, committed or not (Ongaro's thesis, section 4.1). So the
configuration in force is always the one in the last configuration entry of
the log - or, if the log holds none after its snapshot, the one recorded with
the snapshot, or else the configured members. When a follower's log is
truncated, a configuration entry may go with it and the node falls back to
the previous one (``Configurations.truncated``).

The rules that make "takes effect when appended" safe live in the node's
``change_membership``: one change in flight at a time (the previous entry is
committed), and none before the leader committed an entry of its own term
(the single-server bug of 2015).
"""

from __future__ import annotations

from typing import Final

from pyconsensus.core.errors import StorageCorruption
from pyconsensus.core.membership import Membership
from pyconsensus.core.storage import Storage
from pyconsensus.core.types import Entry, EntryKind
from pyconsensus.raft.log import RaftLog

MEMBERSHIP_KEY: Final = "raft.membership"
"""Durable metadata: the configuration in force (written when it changes)."""
SNAPSHOT_MEMBERSHIP_KEY: Final = "raft.snapshot_membership"
"""Durable metadata: the configuration at the snapshot's index, written with
the snapshot (stands in for ``SnapshotMeta.membership`` until snapshots carry it)."""


def config_entry(index: int, term: int, membership: Membership) -> Entry:
    """The log entry that carries ``membership``."""
    return Entry(index, term, membership.encode().encode("ascii"), EntryKind.CONFIG)


def decode_entry(entry: Entry) -> Membership:
    """The configuration a ``CONFIG`` entry carries; ``ValueError`` if it is not one."""
    try:
        text = entry.data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise ValueError(f"configuration entry {entry.index} is not text") from exc
    return Membership.decode(text)


def config_problem(entries: tuple[Entry, ...] | list[Entry]) -> str | None:
    """``"bad_config"`` if one of ``entries`` is a configuration entry that does
    not decode (what no correct leader sends)."""
    for entry in entries:
        if entry.kind is EntryKind.CONFIG:
            try:
                decode_entry(entry)
            except ValueError:
                return "bad_config"
    return None


def last_config(log: RaftLog, upto: int) -> tuple[Membership, int] | None:
    """The last configuration entry of ``log`` at or below ``upto`` (after the
    snapshot), with its index; ``None`` if there is none."""
    base = log.snapshot_index + 1
    for index in range(min(upto, log.last_index), log.snapshot_index, -1):
        entry = log.entries[index - base]
        if entry.kind is EntryKind.CONFIG:
            return decode_entry(entry), index
    return None


class Configurations:
    """The configuration in force and the one the snapshot recorded.

    ``changed`` is set once the cluster's membership has ever differed from the
    configured members; until then nothing about it is written anywhere (so
    clusters that never change behave exactly as before).
    """

    __slots__ = ("changed", "configured", "current", "index", "snapshot")

    def __init__(self, configured: Membership, storage: Storage, log: RaftLog) -> None:
        self.configured = configured
        stored = storage.metadata().get(SNAPSHOT_MEMBERSHIP_KEY)
        self.changed = stored is not None or MEMBERSHIP_KEY in storage.metadata()
        self.snapshot = configured if stored is None else _load(stored)
        self.current, self.index = self.snapshot, log.snapshot_index
        try:
            found = last_config(log, log.last_index)
        except ValueError as exc:
            raise StorageCorruption(f"stored configuration entry: {exc}") from exc
        if found is not None:
            self.current, self.index = found
            self.changed = True

    def appended(self, entries: list[Entry] | tuple[Entry, ...]) -> Membership | None:
        """``entries`` were appended: the new configuration, if one of them carries one."""
        for entry in reversed(entries):
            if entry.kind is EntryKind.CONFIG:
                self.current, self.index = decode_entry(entry), entry.index
                self.changed = True
                return self.current
        return None

    def truncated(self, log: RaftLog) -> Membership | None:
        """``log`` lost its suffix: the configuration to fall back to, if the one
        in force went with it."""
        if self.index <= log.last_index:
            return None
        found = last_config(log, log.last_index)
        self.current, self.index = (
            found if found is not None else (self.snapshot, log.snapshot_index)
        )
        return self.current

    def at(self, index: int, log: RaftLog) -> Membership:
        """The configuration in force at ``index`` (at or after the snapshot)."""
        if self.index <= index:
            return self.current
        found = last_config(log, index)
        return found[0] if found is not None else self.snapshot

    def snapshotted(self, membership: Membership, index: int, *, reset: bool) -> None:
        """A snapshot at ``index`` records ``membership``; ``reset``: the log was
        replaced by it, so it is also the configuration in force."""
        self.snapshot = membership
        if membership != self.configured:
            self.changed = True
        if reset:
            self.current, self.index = membership, index

    def wire(self, membership: Membership) -> str:
        """``membership`` as ``InstallSnapshot`` carries it (empty if never changed)."""
        return membership.encode() if self.changed else ""


def _load(value: object) -> Membership:
    if not isinstance(value, str):
        raise StorageCorruption(f"stored configuration is {value!r}, not text")
    try:
        return Membership.decode(value)
    except ValueError as exc:
        raise StorageCorruption(f"stored configuration: {exc}") from exc
