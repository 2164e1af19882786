"""``RaftLog``: the in-memory view of a node's log after its snapshot point."""

from __future__ import annotations

from pyconsensus.core.log import IndexedLog


class RaftLog(IndexedLog):
    """Entries ``snapshot_index + 1 .. last_index`` (see ``IndexedLog``), in
    Raft's words: the compaction point is the snapshot's last included entry."""

    __slots__ = ()

    @property
    def snapshot_index(self) -> int:
        """The last index the snapshot covers (0 without one)."""
        return self.offset

    @property
    def snapshot_term(self) -> int:
        """The term of the entry at ``snapshot_index``."""
        return self.offset_term
