"""Structural checks of decoded input shared by every core: indices, entry
batches, snapshots.

Each check returns ``None`` or the reason the message is dropped, which names
its ``dropped.<reason>`` counter (see ``screening.py``). Decoded input is
trusted in no annotation: every field is checked by its exact type, and every
entry of a batch is checked, not just the first and the last.
"""

from __future__ import annotations

from pyconsensus.core.types import Entry, EntryKind, Snapshot


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
    """Why ``snapshot`` (as received) is unacceptable, or ``None``: it must be a
    ``Snapshot`` with ``bytes`` data (else ``"malformed"``), an index of at
    least ``min_index`` and a non-negative term (else ``"bad_index"``), and a
    term of at most ``max_term`` (else ``term_reason``)."""
    if type(snapshot) is not Snapshot or type(snapshot.data) is not bytes:
        return "malformed"
    if not (is_index(snapshot.index) and is_index(snapshot.term)):
        return "bad_index"
    if snapshot.index < min_index:
        return "bad_index"
    if snapshot.term > max_term:
        return term_reason
    return None


def snapshots_in(message: object) -> list[Snapshot]:
    """Every ``Snapshot`` a decoded message carries: a field of the message, or
    of a record it holds (ZAB's ``Snap`` inside its sync message). A driver
    checks their bytes against the state machine's format before the core
    sees the message: a snapshot is installed only if it can be restored."""
    found: list[Snapshot] = []
    _collect_snapshots(message, found, depth=2)
    return found


def _collect_snapshots(value: object, found: list[Snapshot], depth: int) -> None:
    if type(value) is Snapshot:
        found.append(value)
        return
    fields = getattr(type(value), "__attrs_attrs__", None)
    if fields is None or depth == 0 or type(value) is Entry:
        return
    for field in fields:
        _collect_snapshots(getattr(value, field.name, None), found, depth - 1)
