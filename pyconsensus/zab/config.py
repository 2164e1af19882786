"""``ZabConfig``: the knobs of the ZAB core, validated when built."""

from __future__ import annotations

import attrs

from pyconsensus.core.config import non_negative as _non_negative
from pyconsensus.core.config import positive as _positive
from pyconsensus.core.config import require_at_most, require_below
from pyconsensus.core.transfer import TransferConfig


@attrs.frozen(slots=True)
class ZabConfig:
    """Tuning of a ZAB node. The defaults suit a LAN with a 10 ms tick.

    Time is measured in ticks. ZooKeeper's ``initLimit`` and ``syncLimit`` become
    ``init_ticks`` and ``sync_ticks``; its ``finalizeWait`` becomes ``finalize_ticks``.
    """

    notify_ticks: int = attrs.field(default=5, validator=_positive)
    """A LOOKING server re-sends its vote every ``[notify_ticks, 2 * notify_ticks)``
    ticks (drawn at random) until the election ends."""

    finalize_ticks: int = attrs.field(default=2, validator=_non_negative)
    """Once a quorum agrees with its vote, a LOOKING server waits this long for a
    better vote before it decides (it decides at once if every server agrees)."""

    transfer: TransferConfig = attrs.field(factory=TransferConfig)
    """Chunk size, window, concurrency and rate of SNAP transfers (see
    ``pyconsensus.core.transfer``). A follower receiving a snapshot restarts
    its handshake timers whenever a chunk arrives in order."""

    init_ticks: int = attrs.field(default=20, validator=_positive)
    """How long discovery and synchronization may take: a prospective leader that
    is not established by then, or a follower that is not yet synced and hears
    nothing from its leader for that long, goes back to LOOKING."""

    sync_ticks: int = attrs.field(default=10, validator=_positive)
    """An established leader that has not heard from a quorum of synced followers
    for this long steps down; a synced follower that has not heard from its
    leader for this long goes back to LOOKING."""

    heartbeat_ticks: int = attrs.field(default=1, validator=_positive)
    """How often an established leader pings its followers."""

    handshake_retry_ticks: int = attrs.field(default=5, validator=_positive)
    """A follower whose handshake (FOLLOWERINFO ... NEWLEADER) makes no progress
    for this long opens a new connection and starts it again."""

    forward_retry_ticks: int = attrs.field(default=10, validator=_positive)
    """A follower re-sends a forwarded request the leader has not answered after
    this long (the leader ignores the duplicates)."""

    max_entries_per_message: int = attrs.field(default=4096, validator=_positive)
    """Upper bound on transactions in one PROPOSAL."""

    max_entry_bytes: int = attrs.field(default=1 << 20, validator=_positive)
    """Proposals larger than this are refused with ``ProposalTooLarge``."""

    pipelined_writes: bool = False
    """Let the established leader write its history in parallel with
    broadcasting it (as Raft's thesis, section 10.2.1, does for Raft). The
    leader's PROPOSAL, COMMIT and PING come out as ``Ready.early_messages``, to
    be sent before (or while) the batch's write is done, and the leader counts
    its own acknowledgement of a transaction only once the driver has reported
    it durable with ``persisted(write)``; in return a batch's ``committed``
    transactions and ``replies`` no longer depend on its write. Followers, the
    election and the discovery and synchronization phases keep the ordinary
    contract. Turn it on only in a driver that calls ``persisted`` after every
    write (see ``pyconsensus.core.node.PipelinedNode``): without those calls a
    leader never counts itself."""

    def __attrs_post_init__(self) -> None:
        require_below(self, "heartbeat_ticks", "sync_ticks")
        require_at_most(self, "sync_ticks", "init_ticks")
