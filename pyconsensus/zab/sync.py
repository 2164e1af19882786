"""Choosing DIFF, TRUNC or SNAP: how a leader brings one follower to its history.

The choice rests on one property of ZAB histories: transactions of epoch ``e``
are created only by the one leader of ``e``, each at one position, and a
follower accepts them only after it adopted that leader's initial history. So
two histories holding a transaction with the same zxid agree on it and on
everything before it, and every history's transactions of epoch ``e`` start at
the same position (right after the leader's initial history).

From the follower's last zxid ``(e, i)`` the leader can therefore tell the
longest prefix the two histories share: if the leader holds transactions of
epoch ``e`` up to position ``r``, both agree up to ``min(r, i)``. Otherwise the
follower's last epoch never reached the leader, and the follower's commit
index is a shared point (every committed transaction is in the leader's
history). Whatever the follower holds beyond the shared point is dropped.
"""

from __future__ import annotations

from pyconsensus.core.snapshots import SnapshotMeta
from pyconsensus.zab.history import History
from pyconsensus.zab.messages import Diff, Snap, Sync, Trunc, Zxid


def shared_prefix(history: History, follower_last: Zxid, follower_commit: int) -> int:
    """The length of the longest prefix a follower's history (ending at
    ``follower_last``, committed up to ``follower_commit``) shares with ``history``."""
    epoch, index = follower_last.epoch, follower_last.counter
    if index == 0:
        return 0
    end_of_epoch = history.last_index_of_epoch_at_most(epoch)
    if history.epoch_at(end_of_epoch) == epoch:
        return min(end_of_epoch, index)
    return min(follower_commit, history.last_index)


def plan_sync(
    history: History, snapshot: SnapshotMeta | None, follower_last: Zxid, follower_commit: int
) -> Sync:
    """DIFF, TRUNC or SNAP that turns the follower's history into ``history``."""
    shared = shared_prefix(history, follower_last, follower_commit)
    if shared < history.base_index:
        # The transactions the follower lacks were folded into our snapshot.
        if snapshot is None or snapshot.index != history.base_index:
            raise AssertionError("history is compacted but no matching snapshot is held")
        return Snap(snapshot, tuple(history.entries))
    entries = tuple(history.slice(shared + 1, history.last_index + 1))
    if shared < follower_last.counter:
        return Trunc(shared, entries)
    return Diff(entries)
