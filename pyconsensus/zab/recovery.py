"""Recovering a ZAB server's durable state from ``Storage`` when it starts.

What is stored: the accepted epoch and the current epoch in the metadata, the
history as entries (``Entry.index`` = position, ``Entry.term`` = epoch), and at
most one snapshot. State that breaks ZAB's invariants is refused with
``StorageCorruption`` rather than served.
"""

from __future__ import annotations

from typing import Final

from pyconsensus.core.errors import StorageCorruption
from pyconsensus.core.snapshots import SnapshotMeta
from pyconsensus.core.storage import Storage
from pyconsensus.zab.history import History
from pyconsensus.zab.validation import is_count

ACCEPTED_EPOCH_KEY: Final = "zab.accepted_epoch"
"""Metadata key of the last epoch this server accepted (promised to follow)."""
CURRENT_EPOCH_KEY: Final = "zab.current_epoch"
"""Metadata key of the epoch whose leader's history this server adopted."""


def load_epochs(storage: Storage) -> tuple[int, int]:
    """The stored ``(accepted epoch, current epoch)``; 0 for what was never stored."""
    meta = storage.metadata()
    accepted = meta.get(ACCEPTED_EPOCH_KEY, 0)
    current = meta.get(CURRENT_EPOCH_KEY, 0)
    if not is_count(accepted) or not is_count(current):
        raise StorageCorruption(
            f"stored epochs are {accepted!r} (accepted) and {current!r} (current), "
            "not non-negative integers"
        )
    assert isinstance(accepted, int) and isinstance(current, int)
    if current > accepted:
        raise StorageCorruption(
            f"stored current epoch {current} is above the accepted epoch {accepted}"
        )
    return accepted, current


def load_history(storage: Storage, snapshot: SnapshotMeta | None, current_epoch: int) -> History:
    """The stored history after ``snapshot``, checked for ZAB's invariants:
    contiguous, epochs never decreasing and never beyond ``current_epoch``."""
    history = History(snapshot.index, snapshot.term) if snapshot else History()
    entries = storage.entries(history.base_index + 1, storage.last_index() + 1)
    expected, previous_epoch = history.base_index + 1, history.base_epoch
    for entry in entries:
        if entry.index != expected:
            raise StorageCorruption(
                f"history has a hole: expected index {expected}, found {entry.index}"
            )
        if entry.term < previous_epoch:
            raise StorageCorruption(f"history epoch goes backwards at index {entry.index}")
        expected, previous_epoch = expected + 1, entry.term
    if storage.last_index() != history.base_index + len(entries):
        raise StorageCorruption("stored entries do not continue the snapshot")
    if previous_epoch > current_epoch:
        raise StorageCorruption(
            f"history holds epoch {previous_epoch}, beyond the current epoch {current_epoch}"
        )
    history.append(entries)
    return history
