"""Snapshot transfer in the simulator: the driver's part of ``Ready.restore``,
the integrity invariants checked at every install, and chunk corruption.

Invariants ("Snapshot Integrity"), checked whenever a node asks for a
snapshot to be installed and once it is:

* a node asks to install a received snapshot only when every byte of it is
  staged (never a partial one);
* the snapshot it names is one some node actually took at that index;
* what got installed is byte for byte that snapshot (never a corrupted one).

That the installed *state* equals the sender's at that index is State
Machine Safety, checked by ``CommittedLog`` on every restore.
"""

from __future__ import annotations

from random import Random

import attrs

from pyconsensus.core.errors import SnapshotRejected
from pyconsensus.core.snapshots import SnapshotMeta, checksum, install_and_open, read_all
from pyconsensus.core.storage import MemoryStorage
from pyconsensus.core.types import NodeId
from pyconsensus.sim.checker import InvariantViolation

PROPERTY = "Snapshot Integrity"


class SnapshotIntegrity:
    """Knows every snapshot taken, and checks each install against them."""

    def __init__(self) -> None:
        self.taken: dict[int, set[str]] = {}  # index -> checksums of snapshots taken there
        self.installed = 0
        self.rejected = 0

    def record(self, meta: SnapshotMeta) -> None:
        """A node made ``meta`` its current snapshot (``Write.snapshot``)."""
        self.taken.setdefault(meta.index, set()).add(meta.checksum)

    def before_install(self, node_id: NodeId, storage: MemoryStorage, meta: SnapshotMeta) -> None:
        """``node_id`` asks (``Ready.restore``) for ``meta`` to be installed."""
        staged = storage.snapshots.staged()
        if staged is None or staged[0] != meta:
            return  # already complete in the store (a restart's restore)
        if staged[1] != meta.size:
            raise InvariantViolation(
                PROPERTY,
                f"node {node_id} asked to install the snapshot at {meta.index} with "
                f"{staged[1]} of its {meta.size} bytes staged",
            )
        if meta.checksum not in self.taken.get(meta.index, ()):
            raise InvariantViolation(
                PROPERTY,
                f"node {node_id} received a snapshot at {meta.index} that no node took",
            )

    def after_install(self, node_id: NodeId, storage: MemoryStorage, meta: SnapshotMeta) -> None:
        """``meta`` is installed (if the store could open it): check its bytes."""
        try:
            data = read_all(storage.snapshots.open(meta))
        except SnapshotRejected:
            return  # rejected: nothing was installed
        if checksum(data) != meta.checksum or len(data) != meta.size:
            raise InvariantViolation(
                PROPERTY,
                f"node {node_id} installed a snapshot at {meta.index} whose bytes differ "
                "from the snapshot that was sent",
            )

    def install(self, storage: MemoryStorage, meta: SnapshotMeta) -> str | None:
        """The driver's install for nodes without an application: None if
        ``meta`` is installed, else why it was rejected."""
        try:
            install_and_open(storage.snapshots, meta)
        except SnapshotRejected as exc:
            self.rejected += 1
            return exc.reason
        self.installed += 1
        return None


def corrupt_chunk(message: object, rng: Random) -> object:
    """``message`` with one byte of its snapshot chunk flipped, if it carries one."""
    data = getattr(message, "data", None)
    if type(data) is not bytes or not data or not hasattr(message, "offset"):
        return message
    at = rng.randrange(len(data))
    flipped = data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]
    return attrs.evolve(message, data=flipped)  # type: ignore[misc]
