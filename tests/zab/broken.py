"""Deliberately broken ZAB variants: the simulator's checkers must catch them."""

from __future__ import annotations

from pyconsensus.zab import AckNewLeader, Diff, Learner, Sync, ZabNode


class SkipsSynchronization(ZabNode):
    """Broken: NEWLEADER carries none of the leader's history, so followers keep
    whatever they hold - uncommitted proposals of dead epochs included."""

    def _plan_sync(self, learner: Learner) -> Sync:
        return Diff(())

    def _on_ack_new_leader(self, msg: AckNewLeader) -> None:
        learner = self.learners.get(msg.src)
        if learner is not None:
            learner.sent = max(learner.sent, msg.index)  # take the follower's word
        super()._on_ack_new_leader(msg)


class CommitsWithoutQuorum(ZabNode):
    """Broken: the leader commits what it has written itself."""

    def _maybe_commit(self) -> None:
        if self.history.last_index > self.commit:
            self.commit = self.history.last_index
            self._broadcast = True


class ForgetsEpochs(ZabNode):
    """Broken: a restarted server ignores the epochs it stored."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.accepted_epoch = self.current_epoch = 0


class UnsyncedSelfZab(ZabNode):
    """Broken: with pipelined writes, counts its own acknowledgement before the
    driver reported its write durable - a commit may then rest on one durable
    copy and one that a crash loses."""

    def _maybe_commit(self) -> None:
        durable = self.durable
        self.durable = self.history.last_index
        try:
            super()._maybe_commit()
        finally:
            self.durable = durable
