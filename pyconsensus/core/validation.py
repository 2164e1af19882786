"""Structural checks of decoded input shared by every core: indices, entry
batches, snapshots.

Each check returns ``None`` or the reason the message is dropped, which names
its ``dropped.<reason>`` counter (see ``screening.py``). Decoded input is
trusted in no annotation: every field is checked by its exact type, and every
entry of a batch is checked, not just the first and the last.
"""

from __future__ import annotations

from pyconsensus.core.membership import Membership
from pyconsensus.core.snapshots import SnapshotMeta
from pyconsensus.core.types import Entry, EntryKind


def is_index(value: object) -> bool:
    """A non-negative int (and not a bool): an index, a term, a counter."""
    return type(value) is int and value >= 0


def entries_problem(
    entries: object,
    first_index: int,
    *,
    min_term: int,
    max_term: int,
    term_reason: str = "bad_term",
) -> str | None:
    """Why the batch ``entries`` is unacceptable, or ``None``.

    A batch is a tuple (possibly empty) of ``Entry`` objects with ``bytes`` data
    and an ``EntryKind`` (else ``"malformed"``), numbered consecutively from
    ``first_index`` (else ``"bad_index"``), whose terms are ints that never
    decrease, the first at least ``min_term`` and the last at most ``max_term``
    (else ``term_reason``: each protocol names its terms - ``bad_term``,
    ``bad_epoch``, ``bad_ballot``). A malformed entry anywhere outranks a bad
    index, which outranks a bad term. One pass: this runs for every batch.
    """
    if type(entries) is not tuple:
        return "malformed"
    if not entries:
        return None
    index_ok = is_index(first_index)
    expected = first_index if index_ok else 0
    previous = min_term
    term_ok = True
    for e in entries:
        if type(e) is not Entry or type(e.data) is not bytes or type(e.kind) is not EntryKind:
            return "malformed"
        index = e.index
        if type(index) is not int or index != expected:
            index_ok = False
        term = e.term
        if type(term) is not int or term < previous:
            term_ok = False
        else:
            previous = term
        expected += 1
    if not index_ok:
        return "bad_index"
    if not term_ok or previous > max_term:
        return term_reason
    return None


def snapshot_problem(
    snapshot: object,
    *,
    max_term: int,
    min_index: int = 0,
    term_reason: str = "bad_index",
) -> str | None:
    """Why ``snapshot`` (a ``SnapshotMeta`` as received) is unacceptable, or
    ``None``: it must be a ``SnapshotMeta`` with a membership or ``None``, a
    size and a ``str`` checksum (else ``"malformed"``), an index of at least
    ``min_index`` and a non-negative term (else ``"bad_index"``), and a term of
    at most ``max_term`` (else ``term_reason``)."""
    if type(snapshot) is not SnapshotMeta:
        return "malformed"
    if snapshot.membership is not None and type(snapshot.membership) is not Membership:
        return "malformed"
    if not is_index(snapshot.size) or type(snapshot.checksum) is not str:
        return "malformed"
    if not (is_index(snapshot.index) and is_index(snapshot.term)):
        return "bad_index"
    if snapshot.index < min_index:
        return "bad_index"
    if snapshot.term > max_term:
        return term_reason
    return None


def chunk_problem(meta: SnapshotMeta, offset: object, data: object, done: object) -> str | None:
    """Why a chunk of the (already checked) snapshot ``meta`` is unacceptable,
    or ``None``: ``data`` must be ``bytes`` at an ``offset`` inside the
    snapshot, and ``done`` must say whether it ends it."""
    if type(data) is not bytes or type(done) is not bool:
        return "malformed"
    if type(offset) is not int or offset < 0:
        return "malformed"
    end = offset + len(data)
    if end > meta.size or done != (end == meta.size):
        return "bad_chunk"
    return None
