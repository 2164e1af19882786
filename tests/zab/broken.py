"""Deliberately broken ZAB variants: the simulator's checkers must catch them.

Most bugs live in the leader, so most variants swap in a broken ``Leading``
role (the node builds its leading role from ``leading_class``)."""

from __future__ import annotations

from pyconsensus.zab import Diff, Learner, Sync, ZabNode
from pyconsensus.zab.leading import Leading
from tests.slow_disks import durable_up_to


class _LeadsWithoutSync(Leading):
    def plan_sync(self, learner: Learner) -> Sync:
        return Diff(())


class SkipsSynchronization(ZabNode):
    """Broken: NEWLEADER carries none of the leader's history, so followers keep
    whatever they hold - uncommitted proposals of dead epochs included."""

    leading_class = _LeadsWithoutSync


class _CommitsAlone(Leading):
    def maybe_commit(self) -> None:
        node = self.node
        if node.history.last_index > node.commit:
            node.commit = node.history.last_index
            self.broadcast = True


class CommitsWithoutQuorum(ZabNode):
    """Broken: the leader commits what it has written itself."""

    leading_class = _CommitsAlone


class ForgetsEpochs(ZabNode):
    """Broken: a restarted server ignores the epochs it stored."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.accepted_epoch = self.current_epoch = 0


class _CountsUnsyncedSelf(Leading):
    def maybe_commit(self) -> None:
        with durable_up_to(self.node, self.node.history.last_index):
            super().maybe_commit()


class UnsyncedSelfZab(ZabNode):
    """Broken: with pipelined writes, counts its own acknowledgement before the
    driver reported its write durable - a commit may then rest on one durable
    copy and one that a crash loses."""

    leading_class = _CountsUnsyncedSelf
