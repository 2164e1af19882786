"""Deliberately broken Raft variants: the simulator's checkers must catch them."""

from __future__ import annotations

from typing import Any

from pyconsensus.core.errors import SnapshotRejected
from pyconsensus.core.snapshot_store import MemorySnapshotStore
from pyconsensus.core.snapshots import SnapshotMeta
from pyconsensus.core.transfer import Received, SnapshotReceiver
from pyconsensus.core.types import Role
from pyconsensus.raft import RaftNode
from pyconsensus.raft.progress import Progress
from tests.slow_disks import durable_up_to


class Figure8Raft(RaftNode):
    """Commits any entry stored on a majority, whatever its term, and skips the
    election no-op - the leader of the paper's Figure 8."""

    def _maybe_commit(self) -> None:
        acked = {peer: progress.match for peer, progress in self.progress.items()}
        acked[self.id] = self.log.last_index
        index = self.quorum.committed_index(acked)
        if index > self.commit:
            self.commit = index
            self._broadcast = True

    def _become_leader(self) -> None:
        self.role = Role.LEADER
        self.leader = self.id
        self._reset_timers()
        self._votes = {}
        self.progress = {peer: Progress(self.log.last_index + 1) for peer in self.peers}
        self._broadcast = True


class UnsyncedSelfRaft(RaftNode):
    """With pipelined writes, counts its own log towards the commit quorum before
    the driver reported it durable - the mistake thesis section 10.2.1 warns of:
    a commit may then rest on one durable copy and one that a crash loses."""

    def _maybe_commit(self) -> None:
        with durable_up_to(self, self.log.last_index):
            super()._maybe_commit()


class _EagerReceiver(SnapshotReceiver):
    """Declares a snapshot complete as soon as its first chunk is staged."""

    def receive(self, meta: SnapshotMeta, offset: int, data: bytes) -> Received:
        got = super().receive(meta, offset, data)
        if got.stage is not None and not got.complete:
            self._installing = True
            return Received(got.stage, got.ack, True)
        return got


class EagerInstallRaft(RaftNode):
    """Asks for a received snapshot to be installed on its first chunk."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._receiver = _EagerReceiver(self._sender._store, self.counters)


class TrustingRaft(RaftNode):
    """Its store installs whatever bytes were staged, never checking them
    against the snapshot's size and checksum."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        store = self._sender._store
        assert isinstance(store, MemorySnapshotStore)
        store.install = lambda meta: _install_unverified(store, meta)  # type: ignore[method-assign]


def _install_unverified(store: MemorySnapshotStore, meta: SnapshotMeta) -> None:
    view = store._view
    if view.staging != meta:
        raise SnapshotRejected(meta.index, "it is not the snapshot being staged")
    store.keep(meta, b"".join(view.staged))
    store._discard_staging()
