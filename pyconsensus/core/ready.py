"""The output side of the contract: one ``Ready`` batch per call to ``node.ready()``.

A driver handles a batch strictly in this order:

1. ``write`` - persist it atomically and durably (``Storage.write``);
2. ``messages`` - hand them to the transport;
3. ``restore`` then ``committed`` - feed them to the state machine (a
   ``restore`` is installed first if it is the staged snapshot, then streamed
   into the machine; the node is told ``snapshot_installed`` - see
   ``SnapshotEvents``). A restore waits for the batch's write to be durable
   even with pipelined writes: the write may stage its last bytes;
4. ``replies`` - resolve the waiting requests.

Every message and reply in a batch may depend on its write, so nothing may be
sent or acknowledged before the write is durable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import attrs

from pyconsensus.core.errors import ConsensusError
from pyconsensus.core.snapshots import SnapshotMeta, SnapshotStage
from pyconsensus.core.types import Entry, MetaValue, NodeId, RequestId


class Message(Protocol):
    """What every protocol message has: who sent it and to whom."""

    @property
    def src(self) -> NodeId: ...

    @property
    def dst(self) -> NodeId: ...


@attrs.frozen(slots=True)
class Write:
    """One atomic durable write. Storage applies the parts in this order:

    1. ``snapshot``: becomes the current snapshot (its bytes are complete in the
       storage's ``SnapshotStore`` already); entries at or below its index go.
    2. ``truncate_from``: entries at or above this index go.
    3. ``entries``: each is put at its index, replacing any entry there.
    4. ``metadata``: these keys are set (others keep their values).
    5. ``stage``: bytes of a snapshot being received are staged in the
       storage's ``SnapshotStore`` (see ``SnapshotStage``).
    """

    metadata: Mapping[str, MetaValue] = attrs.field(factory=dict)
    entries: Sequence[Entry] = ()
    truncate_from: int | None = None
    snapshot: SnapshotMeta | None = None
    stage: SnapshotStage | None = None

    def is_empty(self) -> bool:
        return (
            not self.metadata
            and not self.entries
            and self.truncate_from is None
            and self.snapshot is None
            and self.stage is None
        )

    def top(self) -> tuple[int, int] | None:
        """``(index, term)`` of the last position this write stores - its last
        entry, else its snapshot - or ``None`` if it stores no position. Once
        the write is durable, so is the log up to there (``PipelinedNode``)."""
        if self.entries:
            last = self.entries[-1]
            return last.index, last.term
        if self.snapshot is not None:
            return self.snapshot.index, self.snapshot.term
        return None


@attrs.frozen(slots=True)
class ProposalCommitted:
    """The proposal ``request_id`` was committed as the entry at ``index``."""

    request_id: RequestId
    index: int


@attrs.frozen(slots=True)
class ReadReady:
    """A linearizable read may be served once the state machine has applied
    ``index``: no write acknowledged before the read began lies beyond it."""

    request_id: RequestId
    index: int


@attrs.frozen(slots=True)
class RequestFailed:
    """The request failed with ``error`` (``NotLeader``, ``ProposalDropped``...)."""

    request_id: RequestId
    error: ConsensusError


Reply = ProposalCommitted | ReadReady | RequestFailed


@attrs.frozen(slots=True)
class Ready:
    """Everything a node wants done since the previous ``ready()`` call."""

    write: Write | None = None
    messages: Sequence[Message] = ()
    restore: SnapshotMeta | None = None
    committed: Sequence[Entry] = ()
    replies: Sequence[Reply] = ()
    early_messages: Sequence[Message] = ()
    """Messages that depend on no write - this batch's or an earlier one still
    in flight: the driver may send them at once, before (or while) it writes.
    Only cores running with pipelined writes put anything here (see
    ``PipelinedNode``); every other core leaves it empty."""

    def is_empty(self) -> bool:
        return (
            self.write is None
            and not self.messages
            and not self.early_messages
            and self.restore is None
            and not self.committed
            and not self.replies
        )
