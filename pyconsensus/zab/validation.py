"""Structural checks of incoming ZAB messages: what no correct peer ever sends.

Each check returns ``None`` or the reason a message is dropped; the reason
names the ``dropped.<reason>`` counter. Checks here need no node state beyond
the message itself; the node then checks the message against its state.
Decoded input is trusted in no annotation: fields are checked by type. Entry
batches and snapshots go through the checks every core shares
(``pyconsensus.core.validation``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyconsensus.core.types import Entry
from pyconsensus.core.validation import chunk_problem, entries_problem, is_index, snapshot_problem
from pyconsensus.zab.messages import (
    Ack,
    AckEpoch,
    AckNewLeader,
    Commit,
    Diff,
    FollowerInfo,
    NewEpoch,
    NewLeader,
    Notification,
    PeerState,
    Ping,
    PingAck,
    Proposal,
    ReadReply,
    ReadRequest,
    Request,
    Snap,
    SnapAck,
    SnapChunk,
    Trunc,
    UpToDate,
    Vote,
    Zxid,
)

is_count = is_index
"""A non-negative int (and not a bool); ZAB's name for ``is_index``."""


def _zxid_problem(zxid: object, epoch_limit: int) -> str | None:
    if not isinstance(zxid, Zxid):
        return "malformed"
    if not (is_count(zxid.epoch) and is_count(zxid.counter)):
        return "bad_zxid"
    if zxid.epoch > epoch_limit or (zxid.counter == 0) != (zxid.epoch == 0):
        # Transactions of epoch 0 do not exist, and a history ends in an epoch
        # no later than the server's current epoch.
        return "bad_zxid"
    return None


def _entries_problem(entries: object, first_index: int, epoch_limit: int) -> str | None:
    """``entries`` must be a tuple of entries numbered from ``first_index``, with
    epochs between 1 and ``epoch_limit`` that never decrease (every entry is
    checked, as every core checks its batches)."""
    return entries_problem(
        entries, first_index, min_term=1, max_term=epoch_limit, term_reason="bad_epoch"
    )


def _origins_problem(origins: object) -> str | None:
    if not isinstance(origins, tuple):
        return "malformed"
    for item in origins:
        if not (isinstance(item, tuple) and len(item) == 2):
            return "malformed"
        if not (is_count(item[0]) and is_count(item[1])):
            return "bad_index"
    return None


def _notification(msg: Notification) -> str | None:
    if not is_count(msg.round):
        return "bad_round"
    if not is_count(msg.accepted_epoch):
        return "bad_epoch"
    state: object = msg.state
    vote: object = msg.vote
    if not isinstance(state, PeerState) or not isinstance(vote, Vote):
        return "malformed"
    if not (is_count(vote.epoch) and is_count(vote.leader)):
        return "bad_vote"
    return _zxid_problem(vote.zxid, vote.epoch)


def _follower_info(msg: FollowerInfo) -> str | None:
    if not is_count(msg.accepted_epoch):
        return "bad_epoch"
    if not (is_count(msg.conn) and is_count(msg.session)):
        return "malformed"
    return None


def _new_epoch(msg: NewEpoch) -> str | None:
    if not is_count(msg.epoch) or msg.epoch < 1:
        return "bad_epoch"
    return None if is_count(msg.conn) else "malformed"


def _ack_epoch(msg: AckEpoch) -> str | None:
    if not (is_count(msg.epoch) and is_count(msg.current_epoch)):
        return "bad_epoch"
    if msg.current_epoch > msg.epoch:
        return "bad_epoch"
    if not is_count(msg.conn) or type(msg.fresh) is not bool:
        return "malformed"
    problem = _zxid_problem(msg.last_zxid, msg.current_epoch)
    if problem is not None:
        return problem
    if not is_count(msg.commit) or msg.commit > msg.last_zxid.counter:
        return "bad_index"
    return None


def _new_leader(msg: NewLeader) -> str | None:
    if not is_count(msg.epoch) or msg.epoch < 1:
        return "bad_epoch"
    if not is_count(msg.conn):
        return "malformed"
    if not is_count(msg.commit):
        return "bad_index"
    sync: object = msg.sync
    if isinstance(sync, Diff):
        entries: object = sync.entries
        if not isinstance(entries, tuple):
            return "malformed"
        if entries:
            start = entries[0].index if isinstance(entries[0], Entry) else -1
            problem = _entries_problem(entries, start, msg.epoch)
            if problem is not None:
                return problem
    elif isinstance(sync, Trunc):
        if not is_count(sync.index):
            return "bad_index"
        problem = _entries_problem(sync.entries, sync.index + 1, msg.epoch)
        if problem is not None:
            return problem
    elif isinstance(sync, Snap):
        problem = snapshot_problem(sync.meta, max_term=msg.epoch)
        if problem is not None:
            return problem
        problem = _entries_problem(sync.entries, sync.meta.index + 1, msg.epoch)
        if problem is not None:
            return problem
        if sync.entries and sync.entries[0].term < sync.meta.term:
            return "bad_epoch"
    else:
        return "malformed"
    return _origins_problem(msg.origins)


def _ack_new_leader(msg: AckNewLeader) -> str | None:
    if not is_count(msg.epoch):
        return "bad_epoch"
    if not is_count(msg.conn):
        return "malformed"
    return None if is_count(msg.index) else "bad_index"


def _snap_transfer(msg: SnapChunk | SnapAck) -> str | None:
    if not is_count(msg.epoch):
        return "bad_epoch"
    if not is_count(msg.conn):
        return "malformed"
    problem = snapshot_problem(msg.meta, max_term=msg.epoch)
    if problem is not None:
        return problem
    if isinstance(msg, SnapChunk):
        return chunk_problem(msg.meta, msg.offset, msg.data, msg.done)
    return None if is_index(msg.offset) and msg.offset <= msg.meta.size else "bad_index"


def _up_to_date(msg: UpToDate) -> str | None:
    if not is_count(msg.epoch):
        return "bad_epoch"
    if not is_count(msg.conn):
        return "malformed"
    return None if is_count(msg.commit) else "bad_index"


def _proposal(msg: Proposal) -> str | None:
    if not is_count(msg.epoch) or msg.epoch < 1:
        return "bad_epoch"
    if not is_count(msg.commit):
        return "bad_index"
    entries: object = msg.entries
    if not isinstance(entries, tuple) or not entries or not isinstance(entries[0], Entry):
        return "malformed"
    problem = _entries_problem(entries, entries[0].index, msg.epoch)
    if problem is not None:
        return problem
    if entries[0].term != msg.epoch or entries[0].index < 1:
        # A leader proposes only transactions of its own epoch.
        return "bad_epoch"
    return _origins_problem(msg.origins)


def _index_message(msg: Ack | Commit) -> str | None:
    if not is_count(msg.epoch):
        return "bad_epoch"
    return None if is_count(msg.index) else "bad_index"


def _ping(msg: Ping) -> str | None:
    if not is_count(msg.epoch):
        return "bad_epoch"
    if not (is_count(msg.commit) and is_count(msg.read_round) and is_count(msg.sent)):
        return "bad_index"
    return None


def _ping_ack(msg: PingAck) -> str | None:
    if not is_count(msg.epoch):
        return "bad_epoch"
    return None if is_count(msg.read_round) else "bad_index"


def _request(msg: Request) -> str | None:
    if not is_count(msg.epoch):
        return "bad_epoch"
    if not isinstance(msg.data, bytes) or not is_count(msg.session):
        return "malformed"
    if not (is_count(msg.request_id) and is_count(msg.floor)):
        return "bad_request_id"
    return None


def _read_request(msg: ReadRequest) -> str | None:
    if not is_count(msg.epoch):
        return "bad_epoch"
    return None if is_count(msg.request_id) else "bad_request_id"


def _read_reply(msg: ReadReply) -> str | None:
    if not is_count(msg.epoch):
        return "bad_epoch"
    if not is_count(msg.request_id):
        return "bad_request_id"
    return None if is_count(msg.index) else "bad_index"


CHECKS: dict[type, Callable[[Any], str | None]] = {
    Notification: _notification,
    FollowerInfo: _follower_info,
    NewEpoch: _new_epoch,
    AckEpoch: _ack_epoch,
    NewLeader: _new_leader,
    AckNewLeader: _ack_new_leader,
    UpToDate: _up_to_date,
    Proposal: _proposal,
    Ack: _index_message,
    Commit: _index_message,
    Ping: _ping,
    PingAck: _ping_ack,
    Request: _request,
    ReadRequest: _read_request,
    ReadReply: _read_reply,
    SnapChunk: _snap_transfer,
    SnapAck: _snap_transfer,
}
"""The structural check of each message type."""
