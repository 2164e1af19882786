"""``PaxosConfig``: the knobs of the Multi-Paxos core, validated when built."""

from __future__ import annotations

import attrs

from pyconsensus.core.config import non_negative as _non_negative
from pyconsensus.core.config import positive as _positive
from pyconsensus.core.config import require_below
from pyconsensus.core.transfer import TransferConfig


@attrs.frozen(slots=True)
class PaxosConfig:
    """Tuning of a Multi-Paxos node. Time is counted in ticks."""

    transfer: TransferConfig = attrs.field(factory=TransferConfig)
    """Chunk size, window, concurrency and rate of snapshot transfers (see
    ``pyconsensus.core.transfer``)."""

    election_ticks: int = attrs.field(default=10, validator=_positive)
    """How long a follower waits without hearing from a leader before it runs
    phase 1 itself. Each wait is drawn from ``[election_ticks, 2 * election_ticks)``
    and doubles (in its random part) after every failed attempt, up to
    ``max_backoff_exponent`` times, so duelling proposers drift apart."""

    heartbeat_ticks: int = attrs.field(default=1, validator=_positive)
    """How often a leader sends heartbeats; must be below ``election_ticks``."""

    lease: bool = True
    """Leader leases: an acceptor that heard from a leader within
    ``election_ticks`` ignores other proposers' prepares, and a leader that has
    not heard from a quorum for ``election_ticks`` steps down. Keeps a node that
    was cut off from deposing a working leader when it returns."""

    retry_ticks: int = attrs.field(default=3, validator=_positive)
    """How long a leader waits for ``Accepted`` before re-sending an ``Accept``,
    and a learner for the values it asked for before asking again."""

    max_backoff_exponent: int = attrs.field(default=3, validator=_non_negative)
    """Cap on the doublings of the randomized backoff after failed phase 1s."""

    max_entries_per_message: int = attrs.field(default=4096, validator=_positive)
    """Upper bound on the slots in one ``Accept``."""

    max_entry_bytes: int = attrs.field(default=1 << 20, validator=_positive)
    """Proposals larger than this are refused with ``ProposalTooLarge``."""

    pipelined_writes: bool = False
    """Let the leader write its own acceptances in parallel with phase 2 (the
    Raft thesis, section 10.2.1, applied to Paxos). Once its promise of its
    ballot is durable, the leader's ``Accept``, ``Decision``, ``Heartbeat`` and
    ``InstallSnapshot`` messages come out as ``Ready.early_messages``, to be
    sent before (or while) the batch's write is done, and the leader counts its
    own acceptance of a slot towards the quorum only once the driver has
    reported it durable with ``persisted(write)``; in return a batch's
    ``committed`` entries and ``replies`` no longer depend on its write. Phase 1
    (the leader's own promise included) and the acceptors' ``Accepted``
    answers keep the ordinary contract. Turn it on only in a driver that calls
    ``persisted`` after every write (see
    ``pyconsensus.core.node.PipelinedNode``): without those calls a leader
    never counts itself."""

    def __attrs_post_init__(self) -> None:
        require_below(self, "heartbeat_ticks", "election_ticks")
