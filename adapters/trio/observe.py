"""What a running node tells its operators, derived in the driver.

The cores stay pure and log nothing; they expose their state (``status()``,
their counters) and say what they want done (``Ready``). The ``Observer``
turns that into events (``events.emit``: a log line and a counter each):

* ``watch(status, now)`` - called by the ticker after every tick - compares
  the core's status with the previous tick's: elections started and won,
  terms (epochs, ballots), roles, leaders, and how long the node has known no
  leader. An event is therefore reported within one tick of happening, and a
  whole election inside one tick still shows as started and won.
* ``batch(ready)`` - called for every ``Ready`` - reads membership changes
  (a ``*.membership`` metadata key in the write) and snapshots (a snapshot
  written, or restored into the state machine) from the batch's contents.
* ``stored(seconds, entries)`` - called for every storage write - reports
  slow fsyncs, at most one log line per second.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from pyconsensus.adapters.trio.config import ObserveConfig
from pyconsensus.adapters.trio.events import emit, format_term, term_name
from pyconsensus.adapters.trio.metrics import Histogram
from pyconsensus.core.ready import Ready, Write
from pyconsensus.core.snapshots import SnapshotMeta
from pyconsensus.core.storage import Storage
from pyconsensus.core.types import Role, Status

log = logging.getLogger("pyconsensus.events")

ELECTION_COUNTERS = {"raft": "elections.started", "zab": "elections.rounds"}
"""The core counter that counts elections, by protocol (Raft's votes, ZAB's
LOOKING rounds); elsewhere (Paxos' phase 1) they are read from role changes."""
PRE_VOTE_COUNTER = "elections.pre_vote"
"""Raft's pre-vote rounds (an election that may not happen)."""
CAMPAIGNING = (Role.CANDIDATE, Role.PRE_CANDIDATE)
SLOW_FSYNC_LOG_EVERY_S = 1.0
"""Slow writes are all counted; one log line per second at most summarises them."""


class Observer:
    """Events of one node (see the module docstring)."""

    def __init__(
        self,
        node_id: int,
        protocol: str,
        config: ObserveConfig,
        counters: Counter[str],
        core_counters: Mapping[str, int],
        *,
        logger: logging.Logger = log,
    ) -> None:
        self.node_id = node_id
        self.protocol = protocol
        self.config = config
        self.counters = counters
        self.core_counters = core_counters
        self.log = logger
        self.term_name = term_name(protocol)
        self._last: Status | None = None
        self._counter = ELECTION_COUNTERS.get(protocol)
        self._elections = 0
        self._pre_votes = 0
        self._leaderless_since: float | None = None
        self._next_no_leader = 0.0
        self._slow: list[float] = []
        self._slow_logged_at: float | None = None

    def event(
        self,
        event: str,
        message: str,
        level: int = logging.INFO,
        *,
        count: bool = True,
        **fields: Any,
    ) -> None:
        """Report one event of this node (``events.emit``)."""
        emit(
            self.log,
            self.counters if count else None,
            event,
            message,
            level=level,
            node=self.node_id,
            **fields,
        )

    def era(self, term: int) -> dict[str, Any]:
        """``{"term": 5}`` (Raft), ``{"epoch": 5}`` (ZAB), ``{"ballot": "3.2"}`` (Paxos)."""
        return {self.term_name: self.term(term)}

    def term(self, term: int) -> str | int:
        """``term`` as the operator reads it (Paxos ballots as round.node)."""
        return format_term(self.protocol, term)

    # ------------------------------------------------------------------
    # Status, tick by tick

    def watch(self, status: Status, now: float) -> None:
        """Compare ``status`` with the previous one and report what changed."""
        previous, self._last = self._last, status
        elections, pre_votes = self._election_counts()
        if previous is None:
            self._elections = elections
            self._track_leader(status, now)
            return
        started = elections - self._elections
        self._elections = elections
        became_leader = status.role is Role.LEADER and previous.role is not Role.LEADER
        if self._counter is None and (
            (status.role is Role.CANDIDATE and previous.role is not Role.CANDIDATE)
            or (became_leader and status.term != previous.term)
        ):
            started = 1
        if started or pre_votes:
            self._election_started(status, started, pre_votes)
        if status.term != previous.term:
            self.event(
                "term_changed",
                f"{self.term_name} {self.term(previous.term)} -> {self.term(status.term)}",
                **self.era(status.term),
                previous=self.term(previous.term),
            )
        if status.role is not previous.role:
            self._role_changed(previous.role, status)
        if status.leader != previous.leader:
            self._leader_changed(previous.leader, status, now)
        self._track_leader(status, now)

    def _election_counts(self) -> tuple[int, int]:
        counters = self.core_counters
        pre_votes = counters.get(PRE_VOTE_COUNTER, 0)
        new_pre_votes, self._pre_votes = pre_votes - self._pre_votes, pre_votes
        elections = 0 if self._counter is None else counters.get(self._counter, 0)
        return elections, new_pre_votes

    def _election_started(self, status: Status, started: int, pre_votes: int) -> None:
        if started:
            what = "an election" if started == 1 else f"{started} elections"
            message = f"started {what} ({self.term_name} {self.term(status.term)})"
        else:
            message = f"started a pre-vote ({self.term_name} {self.term(status.term)})"
        self.event(
            "election_started",
            message,
            **self.era(status.term),
            elections=started,
            pre_votes=pre_votes,
        )

    def _role_changed(self, previous: Role, status: Status) -> None:
        term = self.era(status.term)
        if status.role is Role.LEADER:
            self.event(
                "election_won",
                f"won the election: leading in {self.term_name} {self.term(status.term)}",
                **term,
            )
        elif previous is Role.LEADER:
            self.event(
                "stepped_down",
                f"stepped down as leader, now {status.role.value}",
                role=status.role.value,
                **term,
            )
        elif status.role not in CAMPAIGNING:  # campaigning: election_started said it
            self.event(
                "role_changed",
                f"{previous.value} -> {status.role.value}",
                role=status.role.value,
                previous=previous.value,
                **term,
            )

    def _leader_changed(self, previous: int | None, status: Status, now: float) -> None:
        term = self.era(status.term)
        if status.leader is None:
            self.event(
                "leader_lost", f"no longer follows leader {previous}", previous=previous, **term
            )
            return
        waited = None if self._leaderless_since is None else now - self._leaderless_since
        after = "" if waited is None else f" after {waited:.1f} s without one"
        self.event(
            "leader_changed",
            f"leader is node {status.leader} ({self.term_name} {self.term(status.term)}){after}",
            leader=status.leader,
            previous=previous,
            leaderless_s=None if waited is None else round(waited, 3),
            **term,
        )

    def _track_leader(self, status: Status, now: float) -> None:
        """``no leader for N s``: first after ``no_leader_after_s``, then at
        most every ``no_leader_every_s`` while it lasts."""
        if status.leader is not None:
            self._leaderless_since = None
            return
        if self._leaderless_since is None:
            self._leaderless_since = now
            self._next_no_leader = now + self.config.no_leader_after_s
        elif now >= self._next_no_leader:
            waited = now - self._leaderless_since
            self._next_no_leader = now + self.config.no_leader_every_s
            self.event(
                "no_leader",
                f"no leader for {waited:.0f} s (role {status.role.value}, "
                f"{self.term_name} {self.term(status.term)})",
                level=logging.WARNING,
                seconds=round(waited, 1),
                role=status.role.value,
                **self.era(status.term),
            )

    def leaderless_seconds(self, now: float) -> float:
        """How long the node has known no leader (0 while it knows one)."""
        since = self._leaderless_since
        return 0.0 if since is None else now - since

    # ------------------------------------------------------------------
    # Batches

    def batch(self, ready: Ready) -> None:
        """Membership and snapshot events of one ``Ready``."""
        write = ready.write
        if ready.restore is not None:
            self.event(
                "snapshot_installed",
                f"installed a snapshot at index {ready.restore.index}",
                **_snapshot_fields(ready.restore),
            )
        elif write is not None and write.snapshot is not None:
            self.event(
                "snapshot_taken",
                f"took a snapshot at index {write.snapshot.index}",
                **_snapshot_fields(write.snapshot),
            )
        if write is not None and write.metadata:
            for key, value in write.metadata.items():
                if key.endswith("membership"):
                    self.event(
                        "membership_changed",
                        f"membership is now {value!r}",
                        membership=value,
                        key=key,
                    )

    # ------------------------------------------------------------------
    # Storage

    def stored(self, seconds: float, entries: int, now: float) -> None:
        """A storage write took ``seconds``; report it if it was slow."""
        if seconds < self.config.slow_fsync_s:
            return
        self.counters["events.slow_fsync"] += 1  # every one; the log summarises
        self._slow.append(seconds)
        logged = self._slow_logged_at
        if logged is not None and now - logged < SLOW_FSYNC_LOG_EVERY_S:
            return  # summarised by the next line
        slow, self._slow = self._slow, []
        self._slow_logged_at = now
        self.event(
            "slow_fsync",
            f"slow storage write: {max(slow) * 1000:.0f} ms for {entries} entries "
            f"({len(slow)} over {self.config.slow_fsync_s * 1000:.0f} ms since the last report)",
            level=logging.WARNING,
            seconds=round(max(slow), 4),
            entries=entries,
            writes=len(slow),
            threshold_s=self.config.slow_fsync_s,
            count=False,
        )


def _snapshot_fields(snapshot: SnapshotMeta) -> dict[str, Any]:
    """Index, term and size of a snapshot, from its metadata."""
    return {"index": snapshot.index, "snapshot_term": snapshot.term, "bytes": snapshot.size}


class TimedWrites:
    """``storage.write`` timed: the fsync histogram (with metrics) and slow
    write reports. Runs in whichever thread carries out the write; the
    driver never has two writes in progress at once."""

    __slots__ = ("clock", "fsync", "observer", "storage")

    def __init__(
        self,
        storage: Storage,
        observer: Observer,
        fsync: Histogram | None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.storage = storage
        self.observer = observer
        self.fsync = fsync
        self.clock = clock

    def write(self, write: Write) -> None:
        """``storage.write(write)``, timed."""
        clock = self.clock
        start = clock()
        self.storage.write(write)
        end = clock()
        if self.fsync is not None:
            self.fsync.observe(end - start)
        self.observer.stored(end - start, len(write.entries), end)
