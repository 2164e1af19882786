"""Knobs of the broadcast primitives, validated when built. Time is counted in ticks."""

from __future__ import annotations

import attrs

from pyconsensus.core.config import non_negative as _non_negative
from pyconsensus.core.config import positive as _positive
from pyconsensus.core.config import require_at_most, require_below


@attrs.frozen(slots=True)
class BroadcastConfig:
    """Tuning of a best-effort or reliable broadcast member.

    The defaults suit the simulator's 10 ms tick. Every member of a group must
    use the same ``retransmit_ticks`` setting (on or off): a receiver
    acknowledges messages only when retransmission is on.
    """

    retransmit_ticks: int = attrs.field(default=3, validator=_non_negative)
    """Re-send a message to a member that has not acknowledged it after this
    many ticks, doubling the wait each time up to ``max_retransmit_ticks``.
    This turns fair-lossy links (which lose, duplicate and reorder, but deliver
    a message sent often enough) into reliable ones. 0 switches acknowledgements
    and retransmission off: cheaper, but then the guarantees hold only over
    links that never lose a message."""

    max_retransmit_ticks: int = attrs.field(default=24, validator=_positive)
    """Cap on the doubling wait between retransmissions of one message."""

    heartbeat_ticks: int = attrs.field(default=2, validator=_positive)
    """Lazy reliable broadcast: how often a member sends heartbeats."""

    suspect_ticks: int = attrs.field(default=10, validator=_positive)
    """Lazy reliable broadcast: a member silent this long is suspected to have
    crashed (its messages get relayed). Must exceed ``heartbeat_ticks``."""

    suspect_backoff_ticks: int = attrs.field(default=5, validator=_non_negative)
    """Added to a member's timeout each time a suspicion of it proves false, so
    that on a slow network false suspicions (which cost relays) die out."""

    max_payload_bytes: int = attrs.field(default=1 << 20, validator=_positive)
    """Broadcasts larger than this are refused with ``ProposalTooLarge``."""

    def __attrs_post_init__(self) -> None:
        require_at_most(self, "retransmit_ticks", "max_retransmit_ticks")
        require_below(self, "heartbeat_ticks", "suspect_ticks")


@attrs.frozen(slots=True)
class AtomicBroadcastConfig:
    """Tuning of the atomic broadcast facade (the consensus core has its own)."""

    forward_retry_ticks: int = attrs.field(default=20, validator=_positive)
    """A broadcast not delivered locally this many ticks after it was handed to
    the leader is handed over again (to whoever leads by then). Duplicates that
    retries cause are suppressed at delivery."""

    max_payload_bytes: int = attrs.field(default=(1 << 20) - 64, validator=_positive)
    """Broadcasts larger than this are refused with ``ProposalTooLarge``. Keep
    it below the core's entry limit minus the facade's 13-byte header."""
