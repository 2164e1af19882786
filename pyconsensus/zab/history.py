"""``History``: the transactions a server has accepted, after its snapshot point."""

from __future__ import annotations

from pyconsensus.core.log import IndexedLog
from pyconsensus.zab.messages import Zxid


class History(IndexedLog):
    """Transactions ``base_index + 1 .. last_index`` (see ``IndexedLog``), in
    ZAB's words: a term is an epoch, and ``base_index``/``base_epoch`` name the
    last transaction folded into the snapshot (0/0 without one)."""

    __slots__ = ()

    @property
    def base_index(self) -> int:
        return self.offset

    @property
    def base_epoch(self) -> int:
        return self.offset_term

    @property
    def last_epoch(self) -> int:
        return self.last_term

    @property
    def last_zxid(self) -> Zxid:
        return Zxid(self.last_term, self.last_index)

    def epoch_at(self, index: int) -> int | None:
        """The epoch of the transaction at ``index``; ``None`` if not held."""
        return self.term_at(index)

    def truncate_after(self, index: int) -> None:
        """Keep only transactions up to ``index`` (never below the snapshot)."""
        self.truncate_from(index + 1)

    def last_index_of_epoch_at_most(self, epoch: int) -> int:
        """The largest held index whose epoch is ``<= epoch`` (epochs are sorted);
        the snapshot index if no held entry qualifies."""
        return self.last_index_of_term_at_most(epoch, self.last_index)
