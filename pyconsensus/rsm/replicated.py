"""``ReplicatedStateMachine``: the layer between a consensus node and the application.

It sits beside any ``ConsensusNode`` and its driver::

    rsm = ReplicatedStateMachine(
        node, KVStateMachine(), snapshots=storage.snapshots, compact_every=1000
    )
    rid = rsm.submit(SessionCommand(client_id=7, seq=1, payload=b"..."))
    rid = rsm.query(b"...")                 # a linearizable read
    while node.has_ready():
        ready = node.ready()
        storage.write(ready.write)          # durable first
        transport.send(ready.messages)
        for outcome in rsm.handle(ready):   # install+restore, apply, answer
            answer_client(outcome)

Each request ends in exactly one ``Outcome`` - unless the node stops first, in
which case the client never hears back and must treat the request as
indeterminate (as over a broken connection).

Sessions expire by time when ``session_timeout_ms`` is set: ``submit`` then
needs ``now_ms``, the proposing node's clock (the runtime passes wall-clock
milliseconds, the simulator its virtual time), and stamps the command with it;
replicas forget a client once the logged time has moved more than the timeout
past its last command (see ``pyconsensus.rsm.sessions``). Its next command that
relies on earlier answers fails with ``SessionExpired``. Off by default: then
commands are logged exactly as before stamps existed.
"""

from __future__ import annotations

import heapq
import struct
from collections import Counter
from collections.abc import Iterable, Sequence

import attrs

from pyconsensus.core.errors import ConsensusError, OutcomeUnknown, SnapshotRejected
from pyconsensus.core.membership import membership_at
from pyconsensus.core.node import ConsensusNode
from pyconsensus.core.ready import ProposalCommitted, ReadReady, Ready, RequestFailed
from pyconsensus.core.snapshot_store import MemorySnapshotStore
from pyconsensus.core.snapshots import SnapshotMeta, SnapshotStore, install_and_open, read_all
from pyconsensus.core.types import Entry, EntryKind, RequestId
from pyconsensus.rsm.envelope import (
    MAX_TIMEOUT_MS,
    SessionCommand,
    Stamp,
    decode_entry,
    encode_stamped,
    valid_coordinates,
)
from pyconsensus.rsm.errors import (
    ApplyError,
    MalformedCommand,
    SessionExpired,
    StaleRequest,
    StateMachineFailed,
)
from pyconsensus.rsm.machine import StateMachine
from pyconsensus.rsm.sessions import Session, SessionTable, Verdict
from pyconsensus.rsm.streaming import (
    ChunkReader,
    PrefixedSource,
    SnapshotSource,
    restore_from,
    source_of,
)

_SNAPSHOT_TAG = b"RSM1"
_TIMED_SNAPSHOT_TAG = b"RSM2"  # the session table holds a clock
_STREAM_TAG = b"RSM3"  # streamed: the machine's bytes run to the end
_TIMED_STREAM_TAG = b"RSM4"
_U64 = struct.Struct(">Q")


@attrs.frozen(slots=True)
class Completed:
    """The request took effect (exactly once) with ``result``. ``index`` is
    where: for a command, the log index at which it was applied (the first
    copy's, if it was retried); for a read, the index of the state it saw."""

    request_id: RequestId
    result: bytes
    index: int


@attrs.frozen(slots=True)
class Failed:
    """The request definitely did not take effect through this attempt; it is
    safe to retry (``NotLeader`` carries a hint where to)."""

    request_id: RequestId
    error: ConsensusError


@attrs.frozen(slots=True)
class Indeterminate:
    """Whether the request took effect cannot be told. Retrying with the same
    session sequence number is safe: the session de-duplicates it."""

    request_id: RequestId
    error: ConsensusError


Outcome = Completed | Failed | Indeterminate


class ReplicatedStateMachine:
    """Sessions, de-duplication, ordered application and linearizable reads
    for ``machine``, replicated by ``node``.

    ``snapshots``: the node's ``SnapshotStore`` (``storage.snapshots``): local
    snapshots are written into it and received ones installed from it (a
    private in-memory one if not given: for tests with a fake node).
    ``compact_every``: after this many applied entries, snapshot the machine
    and the session table and call ``node.compact`` (0: never).
    ``max_sessions``: sessions kept; opening one more forgets the least
    recently active. ``session_timeout_ms``: also forget a client silent for
    this long, by the leaders' clocks in the log (0: never; see the module).
    """

    def __init__(
        self,
        node: ConsensusNode,
        machine: StateMachine,
        *,
        snapshots: SnapshotStore | None = None,
        compact_every: int = 0,
        max_sessions: int = 4096,
        session_timeout_ms: int = 0,
    ) -> None:
        if compact_every < 0:
            raise ValueError(f"compact_every must be >= 0, got {compact_every}")
        if not 0 <= session_timeout_ms <= MAX_TIMEOUT_MS:
            raise ValueError(
                f"session_timeout_ms must be 0..{MAX_TIMEOUT_MS}, got {session_timeout_ms}"
            )
        self.node = node
        self.machine = machine
        self.compact_every = compact_every
        self.max_sessions = max_sessions
        self.session_timeout_ms = session_timeout_ms
        self.sessions = SessionTable(max_sessions)
        self.snapshots: SnapshotStore = (
            snapshots if snapshots is not None else MemorySnapshotStore()
        )
        self.applied = 0
        self.applied_term = 0  # the term of the entry at ``applied``
        self.snapshot_index = 0
        self.counters: Counter[str] = Counter()
        self._commands: dict[RequestId, SessionCommand] = {}
        self._queries: dict[RequestId, bytes] = {}
        self._commits_waiting: list[tuple[int, RequestId]] = []  # (index, rid) heap
        self._reads_waiting: list[tuple[int, RequestId]] = []  # (index, rid) heap
        # Answers of our pending commands whose sessions expired before the
        # outcome was told: (result, index applied at, refused by ApplyError).
        self._orphaned: dict[RequestId, tuple[bytes, int, bool]] = {}

    # ------------------------------------------------------------------
    # Requests

    def submit(self, command: SessionCommand, *, now_ms: int | None = None) -> RequestId:
        """Propose ``command``; its ``Outcome`` comes out of a later ``handle``.

        ``now_ms``: this node's clock in milliseconds, required when sessions
        expire by time (ignored otherwise). Raises ``ValueError`` for bad
        session numbers or a missing or negative ``now_ms``, and the machine's
        ``ApplyError`` if its optional ``validate_command`` refuses the
        payload (then nothing is logged).
        """
        if not valid_coordinates(command.client_id, command.seq, command.first_unacked):
            raise ValueError(
                f"bad session coordinates: client {command.client_id}, seq {command.seq}, "
                f"first_unacked {command.first_unacked}"
            )
        validate = getattr(self.machine, "validate_command", None)
        if validate is not None:
            validate(command.payload)
        if self.session_timeout_ms:
            if now_ms is None:
                raise ValueError("sessions expire by time here: submit needs now_ms")
            data = encode_stamped(command, Stamp(now_ms, self.session_timeout_ms))
        else:
            data = command.encode()
        rid = self.node.propose(data)
        self._commands[rid] = command
        return rid

    def query(self, query: bytes) -> RequestId:
        """Ask for a linearizable read: ``query`` is answered by the state
        machine once it has applied everything committed before the read began."""
        rid = self.node.read()
        self._queries[rid] = query
        return rid

    def pending(self) -> int:
        """Requests still waiting for their outcome."""
        return len(self._commands) + len(self._queries)

    # ------------------------------------------------------------------
    # The node's output

    def handle(self, ready: Ready) -> list[Outcome]:
        """Apply a ``Ready`` (after its write is durable): install and restore
        its snapshot (telling the node ``snapshot_installed`` or
        ``snapshot_rejected``), apply its committed entries in order, and turn
        its replies into outcomes. Call it for every batch, in order."""
        outcomes: list[Outcome] = []
        if ready.restore is not None:
            self._install(ready.restore)
        if ready.committed:
            self._apply(ready.committed)
        for reply in ready.replies:
            if isinstance(reply, ProposalCommitted):
                self._on_committed(reply, outcomes)
            elif isinstance(reply, ReadReady):
                self._on_read_ready(reply, outcomes)
            elif isinstance(reply, RequestFailed):
                self._on_failed(reply, outcomes)
        if self._commits_waiting or self._reads_waiting:
            self._release(outcomes)
        if self.compact_every and self.applied - self.snapshot_index >= self.compact_every:
            self.node.compact(self.applied, self.take_snapshot())
            self.snapshot_index = self.applied
            self.counters["snapshots.taken"] += 1
        return outcomes

    # ------------------------------------------------------------------
    # Snapshots

    def snapshot(self) -> bytes:
        """Sessions and machine state as of ``applied``::

        b"RSM1" | u64 applied | session table | u64 length | machine snapshot

        (``b"RSM2"`` once sessions expire by time: the table holds its clock.)
        """
        machine = self.machine.snapshot()
        return b"".join(
            (
                _TIMED_SNAPSHOT_TAG if self.sessions.timed else _SNAPSHOT_TAG,
                _U64.pack(self.applied),
                self.sessions.encode(),
                _U64.pack(len(machine)),
                machine,
            )
        )

    def snapshot_source(self) -> SnapshotSource:
        """Sessions and machine state as of ``applied``, as a point-in-time
        stream (``pyconsensus.rsm.streaming``): quick here, read anywhere::

        b"RSM3" | u64 applied | u64 length | session table | machine bytes...

        (``b"RSM4"`` when sessions expire by time.) The machine's part is its
        own ``SnapshotSource`` if it streams, else its ``snapshot()``.
        """
        table = self.sessions.encode()
        tag = _TIMED_STREAM_TAG if self.sessions.timed else _STREAM_TAG
        header = b"".join((tag, _U64.pack(self.applied), _U64.pack(len(table)), table))
        return PrefixedSource(header, source_of(self.machine))

    def restore_chunks(self, meta: SnapshotMeta, chunks: Iterable[bytes]) -> None:
        """Restore the snapshot ``meta`` from its bytes in chunks (either
        ``snapshot_source``'s or ``snapshot``'s layout); ``MalformedCommand``
        if they are not a snapshot of this layer at ``meta.index``."""
        index = meta.index
        reader = ChunkReader(chunks)
        try:
            tag = reader.read_exact(4, "the tag")
            if tag in (_SNAPSHOT_TAG, _TIMED_SNAPSHOT_TAG):
                self._restore(meta, tag + b"".join(reader.rest()))
                return
            if tag not in (_STREAM_TAG, _TIMED_STREAM_TAG):
                raise ValueError("not a replicated-state-machine snapshot")
            (applied,) = _U64.unpack(reader.read_exact(8, "the index"))
            (length,) = _U64.unpack(reader.read_exact(8, "the session table's length"))
            raw = reader.read_exact(length, "the session table")
            table, end = SessionTable.decode(
                raw, 0, self.max_sessions, timed=tag == _TIMED_STREAM_TAG
            )
            if end != length:
                raise ValueError("the session table has trailing bytes")
            if applied != index:
                raise ValueError(f"labelled index {index}, holds the state at {applied}")
            restore_from(self.machine, reader.rest())
        except (ValueError, struct.error) as exc:
            raise MalformedCommand(f"cannot restore snapshot at {index}: {exc}") from exc
        self.sessions = table
        self.applied = self.snapshot_index = index
        self.applied_term = meta.term
        self.counters["snapshots.restored"] += 1

    def take_snapshot(self) -> SnapshotMeta:
        """Write ``snapshot()`` into the store, in pieces, as the snapshot at
        ``applied``; its metadata is what ``node.compact`` takes."""
        # The configuration at ``applied`` travels with the snapshot.
        membership = membership_at(self.node, self.applied)
        writer = self.snapshots.create(self.applied, self.applied_term, membership)
        try:
            machine = self.machine.snapshot()
            writer.write(_TIMED_SNAPSHOT_TAG if self.sessions.timed else _SNAPSHOT_TAG)
            writer.write(_U64.pack(self.applied))
            writer.write(self.sessions.encode())
            writer.write(_U64.pack(len(machine)))
            writer.write(machine)
        except BaseException:
            writer.abort()
            raise
        return writer.finish()

    def _install(self, meta: SnapshotMeta) -> None:
        """Install (if received) and restore ``meta``; tell the node how it went.
        A snapshot whose bytes this layer could not restore is refused
        (``snapshots.refused``), never restored and never fatal."""
        try:
            data = read_all(install_and_open(self.snapshots, meta))
        except SnapshotRejected as exc:
            self.counters["snapshots.rejected"] += 1
            self.node.snapshot_rejected(meta, exc.reason)
            return
        problem = self.snapshot_problem(meta.index, data)
        if problem is not None:
            self.counters["snapshots.refused"] += 1
            self.node.snapshot_rejected(meta, f"malformed: {problem}")
            return
        self._restore(meta, data)
        self.node.snapshot_installed(meta)

    def snapshot_problem(self, index: int, data: bytes) -> str | None:
        """Why ``data``, as the snapshot at ``index``, could not be restored
        here, or ``None``: it must be a snapshot of this layer labelled with
        its own index, and the state machine's part must pass the machine's
        ``verify_snapshot`` (an optional method: ``data -> None``, raising
        ``ValueError``)."""
        try:
            _, machine = self._parse(index, data)
            verify = getattr(self.machine, "verify_snapshot", None)
            if verify is not None:
                verify(machine)
        except (ValueError, struct.error) as exc:
            return str(exc) or type(exc).__name__
        return None

    def _parse(self, index: int, data: bytes) -> tuple[SessionTable, bytes]:
        """The session table and the machine's part of the snapshot ``data``;
        ``ValueError`` (or ``struct.error``) if it is not one of this layer's."""
        tag = data[:4]
        if tag not in (_SNAPSHOT_TAG, _TIMED_SNAPSHOT_TAG):
            raise ValueError("not a replicated-state-machine snapshot")
        (applied,) = _U64.unpack_from(data, 4)
        timed = tag == _TIMED_SNAPSHOT_TAG
        table, offset = SessionTable.decode(data, 12, self.max_sessions, timed=timed)
        (length,) = _U64.unpack_from(data, offset)
        offset += _U64.size
        machine = data[offset : offset + length]
        if len(machine) != length or offset + length != len(data):
            raise ValueError("machine snapshot truncated or followed by junk")
        if applied != index:
            raise ValueError(f"snapshot labelled index {index} holds the state at {applied}")
        return table, machine

    def _restore(self, snapshot: SnapshotMeta, data: bytes) -> None:
        try:
            table, machine = self._parse(snapshot.index, data)
        except (ValueError, struct.error) as exc:
            # A snapshot is written by a replica of this very layer; garbage means
            # corruption, and serving from a half-restored state would be worse.
            raise MalformedCommand(f"cannot restore snapshot at {snapshot.index}: {exc}") from exc
        self.machine.restore(machine)
        self.sessions = table
        self.applied = self.snapshot_index = snapshot.index
        self.applied_term = snapshot.term
        self.counters["snapshots.restored"] += 1

    # ------------------------------------------------------------------
    # Applying

    def _apply(self, entries: Sequence[Entry]) -> None:
        sessions = self.sessions
        machine = self.machine
        counters = self.counters
        for entry in entries:
            index = entry.index
            if index != self.applied + 1:
                if index <= self.applied:
                    counters["entries.replayed"] += 1
                    continue
                raise MalformedCommand(f"entry {index} applied right after {self.applied}")
            self.applied_term = entry.term
            if entry.kind is not EntryKind.NORMAL:
                self.applied = index
                continue
            decoded = decode_entry(entry.data)
            if decoded is None:
                self.applied = index
                counters["entries.malformed"] += 1
                continue
            command, stamp = decoded
            if stamp is not None:
                forgotten = sessions.advance(stamp)
                if forgotten:
                    self._on_expired(forgotten)
            verdict, _ = sessions.admit(command, index)
            if verdict == Verdict.APPLY:
                try:
                    sessions.record(command, machine.apply(command.payload), index)
                    counters["commands.applied"] += 1
                except ApplyError as exc:  # refused alike everywhere: the answer is the error
                    sessions.record(command, str(exc).encode(), index, refused=True)
                    counters["commands.refused"] += 1
                except Exception as exc:
                    raise StateMachineFailed(index, _one_line(exc)) from exc
            else:
                counters["commands." + verdict] += 1
            self.applied = index

    def _on_expired(self, forgotten: list[tuple[int, Session]]) -> None:
        """Keep the answers our pending commands would have found in the
        sessions just forgotten: their outcomes are yet to be told."""
        self.counters["sessions.expired"] += len(forgotten)
        if not self._commands:
            return
        by_client = dict(forgotten)
        for rid, command in self._commands.items():
            session = by_client.get(command.client_id)
            if session is not None and command.seq in session.results:
                applied_at = session.applied_at.get(command.seq, 0)
                refused = command.seq in session.refused
                self._orphaned[rid] = (session.results[command.seq], applied_at, refused)

    # ------------------------------------------------------------------
    # Replies

    def _on_committed(self, reply: ProposalCommitted, outcomes: list[Outcome]) -> None:
        if reply.request_id not in self._commands:
            return
        if reply.index > self.applied:
            # Not applied yet (the node answered ahead of its committed entries):
            # answer once it is, with the state machine's result.
            heapq.heappush(self._commits_waiting, (reply.index, reply.request_id))
            return
        outcomes.append(self._command_outcome(reply.request_id, reply.index))

    def _command_outcome(self, rid: RequestId, index: int) -> Outcome:
        command = self._commands.pop(rid)
        orphaned = self._orphaned.pop(rid, None) if self._orphaned else None
        if orphaned is not None:
            return _answered(rid, orphaned[0], orphaned[1] or index, refused=orphaned[2])
        result = self.sessions.answer(command.client_id, command.seq)
        if result is not None:
            applied = self.sessions.applied_index(command.client_id, command.seq)
            refused = self.sessions.failed(command.client_id, command.seq)
            return _answered(rid, result, applied if applied else index, refused=refused)
        if command.client_id not in self.sessions.sessions:
            if (command.first_unacked or command.seq) > 1:
                return Failed(rid, SessionExpired(command.client_id))
        elif command.seq < self.sessions.first_unacked(command.client_id):
            return Indeterminate(rid, StaleRequest(command.client_id, command.seq))
        # The node says the command committed at ``index``, yet applying the log
        # up to there never answered it: the protocol broke its contract.
        self.counters["replies.not_applied"] += 1
        return Indeterminate(rid, OutcomeUnknown(index))

    def _on_read_ready(self, reply: ReadReady, outcomes: list[Outcome]) -> None:
        query = self._queries.get(reply.request_id)
        if query is None:
            return
        if reply.index > self.applied:
            heapq.heappush(self._reads_waiting, (reply.index, reply.request_id))
            return
        del self._queries[reply.request_id]
        outcomes.append(Completed(reply.request_id, self.machine.query(query), self.applied))

    def _on_failed(self, reply: RequestFailed, outcomes: list[Outcome]) -> None:
        rid = reply.request_id
        if self._commands.pop(rid, None) is not None:
            self._orphaned.pop(rid, None)
            if isinstance(reply.error, OutcomeUnknown):
                outcomes.append(Indeterminate(rid, reply.error))
            else:
                outcomes.append(Failed(rid, reply.error))
        elif self._queries.pop(rid, None) is not None:
            outcomes.append(Failed(rid, reply.error))  # a read has no effect to be unsure of

    def _release(self, outcomes: list[Outcome]) -> None:
        applied = self.applied
        commits = self._commits_waiting
        while commits and commits[0][0] <= applied:
            index, rid = heapq.heappop(commits)
            if rid in self._commands:
                outcomes.append(self._command_outcome(rid, index))
        reads = self._reads_waiting
        while reads and reads[0][0] <= applied:
            _, rid = heapq.heappop(reads)
            query = self._queries.pop(rid, None)
            if query is not None:
                outcomes.append(Completed(rid, self.machine.query(query), applied))


def _answered(rid: RequestId, result: bytes, index: int, *, refused: bool) -> Outcome:
    """The outcome of a command answered at ``index``: ``Completed``, or
    ``Failed(ApplyError)`` if the machine refused it."""
    if refused:
        return Failed(rid, ApplyError(result.decode(errors="replace"), index))
    return Completed(rid, result, index)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
