"""ZAB's values and messages (Junqueira, Reed, Serafini, DSN 2011; ZooKeeper's quorum packets).

Every message carries its sender and destination. Messages of the three phases
carry the epoch they belong to; handshake messages also carry ``conn``, the
number of the follower's connection attempt, which stands in for ZooKeeper's
TCP connection: an answer to an abandoned attempt is recognised and ignored.
"""

from __future__ import annotations

import enum

import attrs

from pyconsensus.core.snapshots import SnapshotMeta
from pyconsensus.core.types import Entry, NodeId, RequestId

# ---------------------------------------------------------------------------
# Values


@attrs.frozen(slots=True, order=True)
class Zxid:
    """A transaction id: ``(epoch, counter)``, ordered lexicographically.

    ZooKeeper restarts the counter in every epoch; here the counter is the
    transaction's position in the history (its ``Entry.index``). Along one
    history both grow together and epochs never decrease, so zxids order the
    same way either way, and a zxid names its slot in ``Storage`` directly.
    """

    epoch: int
    counter: int


ZERO_ZXID = Zxid(0, 0)


@attrs.frozen(slots=True, order=True)
class Vote:
    """A Fast Leader Election vote for ``leader``, whose current epoch is ``epoch``
    and last transaction ``zxid``. Votes order by (epoch, zxid, leader id): the
    field order is the comparison order."""

    epoch: int
    zxid: Zxid
    leader: NodeId


class PeerState(enum.Enum):
    """A server's state as ZooKeeper names it (``QuorumPeer.ServerState``)."""

    LOOKING = "looking"
    FOLLOWING = "following"
    LEADING = "leading"


# ---------------------------------------------------------------------------
# How a leader brings a follower's history to its own (phase 2)


@attrs.frozen(slots=True)
class Diff:
    """The follower's history is a prefix of the leader's: append ``entries``."""

    entries: tuple[Entry, ...]


@attrs.frozen(slots=True)
class Trunc:
    """The follower holds transactions the leader does not: drop everything after
    ``index`` (a point both histories share), then append ``entries``."""

    index: int
    entries: tuple[Entry, ...]


@attrs.frozen(slots=True)
class Snap:
    """The leader no longer holds the transactions the follower lacks: replace the
    follower's whole history by the snapshot ``meta`` followed by ``entries``.
    A follower that does not hold the snapshot asks for its bytes with
    ``SnapAck`` and adopts the sync once it has installed them."""

    meta: SnapshotMeta
    entries: tuple[Entry, ...]


Sync = Diff | Trunc | Snap

# ---------------------------------------------------------------------------
# Fast Leader Election


@attrs.frozen(slots=True)
class Notification:
    """A server's vote in election round ``round`` (ZooKeeper's logical clock),
    and its state: a FOLLOWING or LEADING server answers with the vote that
    ended its election, so that late servers can join the established leader.

    ``accepted_epoch`` is the sender's: whoever ends up leading proposes an
    epoch above every one it heard of, so that no server is left holding a
    promise the new epoch does not exceed."""

    src: NodeId
    dst: NodeId
    round: int
    state: PeerState
    vote: Vote
    accepted_epoch: int = 0


# ---------------------------------------------------------------------------
# Phase 1: discovery


@attrs.frozen(slots=True)
class FollowerInfo:
    """A follower connects to its prospective leader and reports the last epoch it
    accepted. ``session`` names this incarnation of the follower (its forwarded
    requests are numbered per incarnation)."""

    src: NodeId
    dst: NodeId
    accepted_epoch: int
    conn: int
    session: int


@attrs.frozen(slots=True)
class NewEpoch:
    """The prospective leader proposes ``epoch``, greater than every accepted
    epoch of a quorum (ZooKeeper's LEADERINFO)."""

    src: NodeId
    dst: NodeId
    epoch: int
    conn: int


@attrs.frozen(slots=True)
class AckEpoch:
    """The follower accepted ``epoch`` and reports its history: its current epoch,
    its last zxid and how far it knows the history to be committed.

    ``fresh`` is False when the follower had accepted ``epoch`` before (for
    another leader, or before a restart): such an acknowledgement does not count
    towards the quorum that ends discovery (ZooKeeper sends currentEpoch -1)."""

    src: NodeId
    dst: NodeId
    epoch: int
    conn: int
    current_epoch: int
    last_zxid: Zxid
    commit: int
    fresh: bool


# ---------------------------------------------------------------------------
# Phase 2: synchronization


@attrs.frozen(slots=True)
class NewLeader:
    """The leader of ``epoch`` sends its history, as the difference ``sync`` from
    the follower's, and asks the follower to adopt it and ``epoch`` as its
    current epoch. ``origins`` maps indices of the follower's forwarded requests
    to their request ids."""

    src: NodeId
    dst: NodeId
    epoch: int
    conn: int
    sync: Sync
    commit: int
    origins: tuple[tuple[int, RequestId], ...] = ()


@attrs.frozen(slots=True)
class AckNewLeader:
    """The follower holds the leader's history up to ``index`` and ``epoch`` is its
    current epoch (ZooKeeper's ACK of NEWLEADER)."""

    src: NodeId
    dst: NodeId
    epoch: int
    conn: int
    index: int


@attrs.frozen(slots=True)
class UpToDate:
    """A quorum acknowledged NEWLEADER: the leader is established and the follower
    may serve clients; ``commit`` is the leader's commit index."""

    src: NodeId
    dst: NodeId
    epoch: int
    conn: int
    commit: int


# ---------------------------------------------------------------------------
# Phase 3: broadcast


@attrs.frozen(slots=True)
class Proposal:
    """Transactions ``entries`` (contiguous, all of ``epoch``) to accept, and the
    leader's commit index. Pipelined: the leader does not wait for acks."""

    src: NodeId
    dst: NodeId
    epoch: int
    entries: tuple[Entry, ...]
    commit: int
    origins: tuple[tuple[int, RequestId], ...] = ()


@attrs.frozen(slots=True)
class Ack:
    """The follower durably holds the leader's history up to ``index``."""

    src: NodeId
    dst: NodeId
    epoch: int
    index: int


@attrs.frozen(slots=True)
class Commit:
    """Everything up to ``index`` is committed: deliver it."""

    src: NodeId
    dst: NodeId
    epoch: int
    index: int


@attrs.frozen(slots=True)
class Ping:
    """Leader liveness, its commit index, the read round being confirmed, and the
    last index it has sent this follower (a follower that stays behind it has
    lost proposals and reconnects)."""

    src: NodeId
    dst: NodeId
    epoch: int
    commit: int
    read_round: int = 0
    sent: int = 0


@attrs.frozen(slots=True)
class PingAck:
    """A follower still follows the leader of ``epoch`` (at ``read_round``)."""

    src: NodeId
    dst: NodeId
    epoch: int
    read_round: int = 0


# ---------------------------------------------------------------------------
# Requests forwarded by followers


@attrs.frozen(slots=True)
class Request:
    """A client proposal a follower forwards to its leader.

    ``session`` and ``request_id`` identify it (the leader proposes each at most
    once); ``floor`` is the follower's oldest request still awaiting placement, so
    the leader may forget about older ones."""

    src: NodeId
    dst: NodeId
    epoch: int
    session: int
    request_id: RequestId
    data: bytes
    floor: RequestId


@attrs.frozen(slots=True)
class ReadRequest:
    """A follower asks the leader for a linearizable read point."""

    src: NodeId
    dst: NodeId
    epoch: int
    request_id: RequestId


@attrs.frozen(slots=True)
class ReadReply:
    """The leader confirmed its leadership: the read may be served at ``index``."""

    src: NodeId
    dst: NodeId
    epoch: int
    request_id: RequestId
    index: int


@attrs.frozen(slots=True)
class SnapChunk:
    """One chunk of the snapshot ``meta`` of a SNAP, on connection ``conn``:
    ``data`` starts at byte ``offset``; ``done`` marks the last chunk."""

    src: NodeId
    dst: NodeId
    epoch: int
    conn: int
    meta: SnapshotMeta
    offset: int
    data: bytes
    done: bool


@attrs.frozen(slots=True)
class SnapAck:
    """The follower has durably staged ``offset`` bytes of ``meta``: send on
    from there (0: from the start)."""

    src: NodeId
    dst: NodeId
    epoch: int
    conn: int
    meta: SnapshotMeta
    offset: int


ZabMessage = (
    Notification
    | FollowerInfo
    | NewEpoch
    | AckEpoch
    | NewLeader
    | AckNewLeader
    | UpToDate
    | Proposal
    | Ack
    | Commit
    | Ping
    | PingAck
    | Request
    | ReadRequest
    | ReadReply
    | SnapChunk
    | SnapAck
)

MESSAGE_TYPES: tuple[type, ...] = (
    Notification,
    FollowerInfo,
    NewEpoch,
    AckEpoch,
    NewLeader,
    AckNewLeader,
    UpToDate,
    Proposal,
    Ack,
    Commit,
    Ping,
    PingAck,
    Request,
    ReadRequest,
    ReadReply,
    SnapChunk,
    SnapAck,
)
