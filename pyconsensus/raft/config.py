"""``RaftConfig``: the knobs of the Raft core, validated when built."""

from __future__ import annotations

import attrs

from pyconsensus.core.config import positive as _positive
from pyconsensus.core.config import require_below
from pyconsensus.core.transfer import TransferConfig


@attrs.frozen(slots=True)
class RaftConfig:
    """Tuning of a Raft node. The defaults suit a LAN with a 10 ms tick.

    Time is measured in ticks: the driver decides how long a tick is.
    """

    election_ticks: int = attrs.field(default=10, validator=_positive)
    """Minimum election timeout. Each node draws its timeout uniformly from
    ``[election_ticks, 2 * election_ticks)`` so that candidates rarely collide."""

    heartbeat_ticks: int = attrs.field(default=1, validator=_positive)
    """How often a leader sends heartbeats; must be below ``election_ticks``."""

    pre_vote: bool = True
    """Run a PreVote round before raising the term (thesis section 9.6), so a node
    that was partitioned away cannot force an election when it returns."""

    check_quorum: bool = True
    """A leader that has not heard from a quorum for an election timeout steps
    down; followers ignore vote requests while they hear from a leader."""

    max_inflight: int = attrs.field(default=64, validator=_positive)
    """AppendEntries messages in flight per follower before the leader waits."""

    max_entries_per_message: int = attrs.field(default=4096, validator=_positive)
    """Upper bound on entries in one AppendEntries."""

    max_entry_bytes: int = attrs.field(default=1 << 20, validator=_positive)
    """Proposals larger than this are refused with ``ProposalTooLarge``."""

    pipelined_writes: bool = False
    """Let the leader write its log in parallel with replicating it (thesis
    10.2.1). The leader's AppendEntries, heartbeats and snapshots come out as
    ``Ready.early_messages``, to be sent before (or while) the batch's write is
    done, and the leader counts its own log towards the commit quorum only as
    far as the driver has reported it durable with ``persisted(write)``; in
    return a batch's ``committed`` entries and ``replies`` no longer depend on
    its write. Turn it on only in a driver that calls ``persisted`` after every
    write (see ``pyconsensus.core.node.PipelinedNode``): without those calls a
    leader never counts itself."""

    broadcast_commit: bool = True
    """Tell followers of a new commit index at once, with an empty
    AppendEntries when no entries are waiting (as etcd's raft does). Off, the
    commit index travels with the next AppendEntries or heartbeat (within
    ``heartbeat_ticks``): followers apply a little later, but a lone write
    costs half the messages - two appends and two answers instead of four
    of each. Either way a write is acknowledged when the leader commits it."""

    transfer: TransferConfig = attrs.field(factory=TransferConfig)
    """Chunk size, window, concurrency and rate of outgoing snapshot transfers
    (see ``pyconsensus.core.transfer``)."""

    snapshot_retry_ticks: int = attrs.field(default=20, validator=_positive)
    """How long the leader waits for a snapshot to be acknowledged before
    sending it again."""

    def __attrs_post_init__(self) -> None:
        require_below(self, "heartbeat_ticks", "election_ticks")
