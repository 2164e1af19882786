"""Client sessions: exactly-once application of retried commands.

Each replica keeps, per client, the answers to the commands whose answers the
client may still be waiting for. Because the table changes only when committed
entries are applied, every replica holds the same table at the same index; it
is part of every snapshot.

Sessions are forgotten in two ways. By count: opening a session beyond
``max_sessions`` evicts the least recently active one. By time, once commands
arrive stamped (``envelope.Stamp``): the table keeps a clock - the largest
leader time in the log so far, so that a new leader whose clock lags cannot
turn it back - and forgets every session silent for longer than the stamp's
timeout. Only logged times count, never a replica's own clock, so all
replicas forget the same sessions at the same index.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from collections.abc import Callable

import attrs

from pyconsensus.rsm.envelope import SessionCommand, Stamp

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_SESSION = struct.Struct(">QQQI")  # client_id, first_unacked, last_active, results
_TIMED_SESSION = struct.Struct(">QQQQI")  # ... and last_seen_ms before results
_RESULT = struct.Struct(">QQI")  # seq, index applied at, length
# The top bit of a result's index marks an ``ApplyError`` answer (a log index
# never reaches it), so tables without refusals encode as they always did.
_REFUSED_BIT = 1 << 63


class Verdict:
    """What the session table decided about one command (see ``SessionTable.admit``)."""

    APPLY = "apply"
    DUPLICATE = "duplicate"
    STALE = "stale"
    EXPIRED = "expired"


@attrs.define(slots=True)
class Session:
    """One client's entry in the table."""

    first_unacked: int = 1
    last_active: int = 0
    """Index of the last entry of this client; the least recently active
    session is evicted first."""
    results: dict[int, bytes] = attrs.field(factory=dict)
    applied_at: dict[int, int] = attrs.field(factory=dict)
    """Index at which each answered command took effect."""
    last_seen_ms: int = 0
    """The table's clock at this client's last entry (when timed)."""
    refused: set[int] = attrs.field(factory=set)
    """Answered commands whose answer is an ``ApplyError`` message."""


class SessionTable:
    """Per-client answers, and the de-duplication rule.

    For a command ``(client, seq, first_unacked)`` applied at ``index``:

    1. answers below ``first_unacked`` are discarded - the client has them;
    2. ``seq < first_unacked``: the client is past this command - not applied (STALE);
    3. ``seq`` already answered: not applied again, the saved answer is returned (DUPLICATE);
    4. otherwise the command is applied and its answer saved (APPLY).

    An unknown client whose ``first_unacked`` exceeds 1 had a session that was
    evicted or expired: its command is refused (EXPIRED), because earlier ones
    could no longer be recognised as duplicates.
    """

    def __init__(self, max_sessions: int = 4096) -> None:
        if max_sessions < 1:
            raise ValueError(f"max_sessions must be positive, got {max_sessions}")
        self.max_sessions = max_sessions
        # Once timed, kept in order of activity (least recent first), which is
        # also the order of ``last_seen_ms``: expiry pops from the front.
        self.sessions: OrderedDict[int, Session] = OrderedDict()
        self.evicted = 0
        self.expired = 0
        self.clock: int | None = None
        """The largest logged time so far (ms); ``None`` until a stamped command."""

    @property
    def timed(self) -> bool:
        """Whether a stamped command was ever applied (sessions expire by time)."""
        return self.clock is not None

    def advance(self, stamp: Stamp) -> list[tuple[int, Session]]:
        """Apply the time of a stamped command (before ``admit`` of that
        command): move the clock forward - never back - and forget the
        sessions silent for longer than ``stamp.timeout_ms``. Returns them."""
        sessions = self.sessions
        clock = self.clock
        if clock is None:
            # The first stamp: the sessions so far count as seen now, in the
            # order they were last active.
            clock = stamp.time_ms
            ordered = sorted(sessions.items(), key=lambda item: item[1].last_active)
            sessions = self.sessions = OrderedDict(ordered)
            for session in sessions.values():
                session.last_seen_ms = clock
        elif stamp.time_ms > clock:
            clock = stamp.time_ms
        self.clock = clock
        forgotten: list[tuple[int, Session]] = []
        horizon = clock - stamp.timeout_ms
        while sessions:
            client_id = next(iter(sessions))
            if sessions[client_id].last_seen_ms >= horizon:
                break
            forgotten.append((client_id, sessions.pop(client_id)))
        self.expired += len(forgotten)
        return forgotten

    def __len__(self) -> int:
        return len(self.sessions)

    def admit(self, command: SessionCommand, index: int) -> tuple[str, bytes | None]:
        """Decide the fate of ``command`` at ``index``: ``(verdict, saved answer)``."""
        session = self.sessions.get(command.client_id)
        first = command.first_unacked or command.seq
        if session is None:
            if first > 1:
                return Verdict.EXPIRED, None
            session = self._open(command.client_id)
        session.last_active = index
        if self.clock is not None:
            session.last_seen_ms = self.clock
            self.sessions.move_to_end(command.client_id)
        if first > session.first_unacked:
            session.first_unacked = first
            results = session.results
            for seq in [s for s in results if s < first]:
                del results[seq]
                session.applied_at.pop(seq, None)
                session.refused.discard(seq)
        if command.seq < session.first_unacked:
            return Verdict.STALE, None
        saved = session.results.get(command.seq)
        if saved is not None:
            return Verdict.DUPLICATE, saved
        return Verdict.APPLY, None

    def record(
        self, command: SessionCommand, result: bytes, index: int = 0, *, refused: bool = False
    ) -> None:
        """Save the answer of a command that ``admit`` told to apply (at
        ``index``); ``refused``: the answer is an ``ApplyError`` message."""
        session = self.sessions[command.client_id]
        session.results[command.seq] = result
        session.applied_at[command.seq] = index
        if refused:
            session.refused.add(command.seq)

    def failed(self, client_id: int, seq: int) -> bool:
        """Whether the saved answer to ``(client_id, seq)`` is an ``ApplyError``'s."""
        session = self.sessions.get(client_id)
        return session is not None and seq in session.refused

    def answer(self, client_id: int, seq: int) -> bytes | None:
        """The saved answer to ``(client_id, seq)``, if it is still held."""
        session = self.sessions.get(client_id)
        return None if session is None else session.results.get(seq)

    def applied_index(self, client_id: int, seq: int) -> int | None:
        """Where ``(client_id, seq)`` took effect, if its answer is still held."""
        session = self.sessions.get(client_id)
        return None if session is None else session.applied_at.get(seq)

    def first_unacked(self, client_id: int) -> int:
        session = self.sessions.get(client_id)
        return 0 if session is None else session.first_unacked

    def _open(self, client_id: int) -> Session:
        if len(self.sessions) >= self.max_sessions:
            victim = min(self.sessions, key=lambda c: (self.sessions[c].last_active, c))
            del self.sessions[victim]
            self.evicted += 1
        session = Session()
        self.sessions[client_id] = session
        return session

    # -- snapshots ---------------------------------------------------------

    def encode(self) -> bytes:
        """The table as bytes (sessions in client order, answers in seq order).

        A timed table starts with its clock (``u64``) and stores each session's
        ``last_seen_ms``; say which to ``decode``.
        """
        timed = self.clock is not None
        parts = [_U64.pack(self.clock)] if self.clock is not None else []
        parts.append(_U32.pack(len(self.sessions)))
        for client_id in sorted(self.sessions):
            session = self.sessions[client_id]
            results = len(session.results)
            if timed:
                parts.append(
                    _TIMED_SESSION.pack(
                        client_id,
                        session.first_unacked,
                        session.last_active,
                        session.last_seen_ms,
                        results,
                    )
                )
            else:
                parts.append(
                    _SESSION.pack(client_id, session.first_unacked, session.last_active, results)
                )
            for seq in sorted(session.results):
                result = session.results[seq]
                index = session.applied_at.get(seq, 0)
                if seq in session.refused:
                    index |= _REFUSED_BIT
                parts.append(_RESULT.pack(seq, index, len(result)))
                parts.append(result)
        return b"".join(parts)

    @classmethod
    def decode(
        cls, data: bytes, offset: int, max_sessions: int, *, timed: bool = False
    ) -> tuple[SessionTable, int]:
        """Read a table written by ``encode`` at ``offset``; returns it and the
        offset just past it. Raises ``ValueError`` on malformed data."""
        table = cls(max_sessions)
        take = _reader(data)
        if timed:
            (table.clock,), offset = take(_U64, offset)
        (count,), offset = take(_U32, offset)
        sessions: list[tuple[int, Session]] = []
        for _ in range(count):
            if timed:
                (client_id, first, last_active, last_seen, results), offset = take(
                    _TIMED_SESSION, offset
                )
            else:
                (client_id, first, last_active, results), offset = take(_SESSION, offset)
                last_seen = 0
            session = Session(first, last_active, last_seen_ms=last_seen)
            for _ in range(results):
                (seq, index, length), offset = take(_RESULT, offset)
                if offset + length > len(data):
                    raise ValueError("session table truncated")
                session.results[seq] = data[offset : offset + length]
                if index & _REFUSED_BIT:
                    session.refused.add(seq)
                    index &= ~_REFUSED_BIT
                session.applied_at[seq] = index
                offset += length
            sessions.append((client_id, session))
        if timed:  # expiry relies on the order of activity
            sessions.sort(key=lambda item: item[1].last_active)
        table.sessions.update(sessions)
        return table, offset


def _reader(data: bytes) -> Callable[[struct.Struct, int], tuple[tuple[int, ...], int]]:
    def take(layout: struct.Struct, offset: int) -> tuple[tuple[int, ...], int]:
        if offset + layout.size > len(data):
            raise ValueError("session table truncated")
        return layout.unpack_from(data, offset), offset + layout.size

    return take


class ClientSession:
    """The client's half of a session: sequence numbers and what is acknowledged.

    Call ``next()`` for a new command, ``settle(seq)`` when its answer arrived
    or the client gives up on it. ``first_unacked`` is what the next envelope
    carries.
    """

    def __init__(self, client_id: int) -> None:
        self.client_id = client_id
        self.last_seq = 0
        self._open: set[int] = set()

    def next(self, payload: bytes) -> SessionCommand:
        self.last_seq += 1
        self._open.add(self.last_seq)
        return SessionCommand(self.client_id, self.last_seq, payload, self.first_unacked)

    def settle(self, seq: int) -> None:
        self._open.discard(seq)

    @property
    def first_unacked(self) -> int:
        return min(self._open) if self._open else self.last_seq + 1

    def envelope(self, command: SessionCommand) -> SessionCommand:
        """``command`` with the current ``first_unacked`` (for a retry)."""
        return attrs.evolve(command, first_unacked=min(self.first_unacked, command.seq))
