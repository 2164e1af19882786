"""Sessions that expire by time: the leader's clock travels in the log, and
every replica forgets the same silent clients at the same index."""

from __future__ import annotations

from random import Random

import pytest

from pyconsensus.core.ready import ProposalCommitted, Ready
from pyconsensus.core.snapshots import write_snapshot
from pyconsensus.core.types import Entry
from pyconsensus.rsm import (
    Completed,
    Failed,
    KVStateMachine,
    ReplicatedStateMachine,
    SessionCommand,
    SessionExpired,
    SessionTable,
    kv,
)
from pyconsensus.rsm.envelope import (
    STAMPED_HEADER_SIZE,
    Stamp,
    decode,
    decode_entry,
    encode_stamped,
)
from pyconsensus.rsm.sessions import Verdict
from tests.rsm.test_replicated import FakeNode

TIMEOUT = 1_000


def stamped(index: int, command: SessionCommand, time_ms: int, timeout: int = TIMEOUT) -> Entry:
    return Entry(index, 1, encode_stamped(command, Stamp(time_ms, timeout)))


def replica(timeout: int = TIMEOUT, node: FakeNode | None = None) -> ReplicatedStateMachine:
    return ReplicatedStateMachine(node or FakeNode(), KVStateMachine(), session_timeout_ms=timeout)


# -- the envelope --------------------------------------------------------------


def test_a_stamped_envelope_decodes_to_its_command_and_stamp() -> None:
    command = SessionCommand(2**63, 7, b"\x00data", first_unacked=5)
    data = encode_stamped(command, Stamp(2**63 + 5, 60_000))
    assert decode_entry(data) == (command, Stamp(2**63 + 5, 60_000))
    assert decode(data) == command
    assert decode_entry(command.encode()) == (command, None)


@pytest.mark.parametrize(
    "data",
    [
        encode_stamped(SessionCommand(1, 1, b""), Stamp(5, 1))[: STAMPED_HEADER_SIZE - 1],
        encode_stamped(SessionCommand(1, 1, b"x"), Stamp(5, 1)).replace(
            b"\x00\x00\x00\x01x", b"\x00\x00\x00\x00x"
        ),
    ],
    ids=["truncated", "zero-timeout"],
)
def test_a_malformed_stamp_is_not_an_envelope(data: bytes) -> None:
    assert decode_entry(data) is None


def test_a_stamp_must_fit_the_envelope() -> None:
    for time_ms, timeout in ((-1, 5), (1 << 64, 5), (5, 0), (5, 1 << 32)):
        with pytest.raises(ValueError):
            Stamp(time_ms, timeout)


# -- the table -----------------------------------------------------------------


def test_a_session_silent_for_longer_than_the_timeout_is_forgotten() -> None:
    table = SessionTable()
    table.advance(Stamp(0, TIMEOUT))
    table.admit(SessionCommand(1, 1, b""), 1)
    table.advance(Stamp(400, TIMEOUT))
    table.admit(SessionCommand(2, 1, b""), 2)
    assert table.advance(Stamp(TIMEOUT, TIMEOUT)) == []  # silent for exactly the timeout
    forgotten = table.advance(Stamp(TIMEOUT + 1, TIMEOUT))
    assert [client for client, _ in forgotten] == [1]
    assert set(table.sessions) == {2} and table.expired == 1


def test_activity_keeps_a_session_alive() -> None:
    table = SessionTable()
    for time_ms in range(0, 10 * TIMEOUT, TIMEOUT // 2):
        table.advance(Stamp(time_ms, TIMEOUT))
        table.admit(SessionCommand(1, 1, b""), time_ms + 1)  # a retry is activity too
    assert set(table.sessions) == {1} and table.expired == 0


def test_a_lagging_clock_does_not_turn_the_table_clock_back() -> None:
    table = SessionTable()
    table.advance(Stamp(5_000, TIMEOUT))
    table.admit(SessionCommand(1, 1, b""), 1)
    table.advance(Stamp(2_000, TIMEOUT))  # a new leader whose clock lags
    assert table.clock == 5_000
    table.admit(SessionCommand(2, 1, b""), 2)
    assert table.sessions[2].last_seen_ms == 5_000


def test_sessions_opened_before_the_first_stamp_count_as_seen_at_it() -> None:
    table = SessionTable()
    table.admit(SessionCommand(1, 1, b""), 1)
    table.admit(SessionCommand(2, 1, b""), 2)
    table.admit(SessionCommand(1, 2, b""), 3)  # client 1 is the more recent
    assert table.advance(Stamp(50_000, TIMEOUT)) == []
    assert list(table.sessions) == [2, 1]
    assert [c for c, _ in table.advance(Stamp(51_001, TIMEOUT))] == [2, 1]


def test_a_timed_table_round_trips_with_its_clock_and_order() -> None:
    table = SessionTable()
    for client, time_ms in ((3, 10), (1, 20), (2, 30), (3, 40)):
        table.advance(Stamp(time_ms, TIMEOUT))
        command = SessionCommand(client, 1, b"")
        table.admit(command, time_ms)
        table.record(command, b"answer", time_ms)
    data = table.encode()
    copy, end = SessionTable.decode(data, 0, 4096, timed=True)
    assert end == len(data) and copy.clock == 40
    assert list(copy.sessions) == list(table.sessions) == [1, 2, 3]
    assert copy.encode() == data


def test_an_untimed_table_encodes_as_it_always_did() -> None:
    table = SessionTable()
    command = SessionCommand(1, 1, b"")
    table.admit(command, 1)
    table.record(command, b"A", 1)
    # count | client, first_unacked, last_active, results | seq, index, length | answer
    expected = (1).to_bytes(4, "big") + b"".join(n.to_bytes(8, "big") for n in (1, 1, 1))
    expected += (1).to_bytes(4, "big") + b"".join(n.to_bytes(8, "big") for n in (1, 1))
    assert table.encode() == expected + (1).to_bytes(4, "big") + b"A"


# -- the replicated state machine ----------------------------------------------


def test_without_a_timeout_commands_are_logged_as_before() -> None:
    node = FakeNode()
    rsm = ReplicatedStateMachine(node, KVStateMachine())
    command = SessionCommand(1, 1, kv.put(b"x", b"1"))
    rsm.submit(command, now_ms=12_345)
    assert node.proposed == [command.encode()]
    assert rsm.snapshot().startswith(b"RSM1")


def test_with_a_timeout_the_proposing_node_stamps_its_clock() -> None:
    node = FakeNode()
    rsm = replica(node=node)
    command = SessionCommand(1, 1, kv.put(b"x", b"1"))
    rsm.submit(command, now_ms=12_345)
    assert node.proposed == [encode_stamped(command, Stamp(12_345, TIMEOUT))]
    with pytest.raises(ValueError, match="now_ms"):
        rsm.submit(command)
    with pytest.raises(ValueError):
        rsm.submit(command, now_ms=-1)
    with pytest.raises(ValueError):
        ReplicatedStateMachine(FakeNode(), KVStateMachine(), session_timeout_ms=-1)


def test_a_client_silent_past_the_timeout_gets_session_expired() -> None:
    rsm = replica()
    silent = SessionCommand(1, 1, kv.put(b"x", b"1"))
    other = SessionCommand(2, 1, kv.put(b"y", b"1"))
    rsm.handle(Ready(committed=(stamped(1, silent, 0), stamped(2, other, TIMEOUT + 1))))
    later = SessionCommand(1, 2, kv.put(b"x", b"2"), first_unacked=2)
    rid = rsm.submit(later, now_ms=TIMEOUT + 2)
    outcomes = rsm.handle(
        Ready(committed=(stamped(3, later, TIMEOUT + 2),), replies=(ProposalCommitted(rid, 3),))
    )
    assert outcomes == [Failed(rid, SessionExpired(1))]
    assert isinstance(rsm.machine, KVStateMachine)
    assert rsm.machine.data[b"x"] == b"1"  # not applied
    assert rsm.counters["sessions.expired"] == 1 and rsm.counters["commands.expired"] == 1


def test_a_leader_with_a_lagging_clock_cannot_resurrect_an_expired_session() -> None:
    rsm = replica()
    one = SessionCommand(1, 1, kv.put(b"x", b"1"))
    two = SessionCommand(2, 1, kv.put(b"y", b"1"))
    hour = 3_600_000
    rsm.handle(Ready(committed=(stamped(1, one, 10 * hour), stamped(2, two, 10 * hour + 5_000))))
    assert 1 not in rsm.sessions.sessions
    # The next leader's clock is an hour behind: its stamps turn nothing back.
    lagging = 9 * hour + 5_000
    retry = SessionCommand(1, 2, kv.put(b"x", b"2"), first_unacked=2)
    rid = rsm.submit(retry, now_ms=lagging)
    outcomes = rsm.handle(
        Ready(committed=(stamped(3, retry, lagging),), replies=(ProposalCommitted(rid, 3),))
    )
    assert outcomes == [Failed(rid, SessionExpired(1))]
    assert rsm.sessions.clock == 10 * hour + 5_000
    # Nor does the lagging leader keep a silent session alive longer.
    rsm.handle(Ready(committed=(stamped(4, two, lagging + 1),)))
    assert rsm.sessions.sessions[2].last_seen_ms == 10 * hour + 5_000
    three = SessionCommand(3, 1, kv.put(b"z", b"1"))
    rsm.handle(Ready(committed=(stamped(5, three, 10 * hour + 5_000 + TIMEOUT + 1),)))
    assert set(rsm.sessions.sessions) == {3}


def test_an_answer_whose_session_expired_before_it_was_told_still_completes() -> None:
    rsm = replica()
    command = SessionCommand(1, 1, kv.put(b"x", b"1"))
    rid = rsm.submit(command, now_ms=0)
    # The commit reply comes late, after a clock jump expired the session.
    other = SessionCommand(2, 1, kv.put(b"y", b"1"))
    rsm.handle(Ready(committed=(stamped(1, command, 0), stamped(2, other, 5 * TIMEOUT))))
    assert 1 not in rsm.sessions.sessions
    outcomes = rsm.handle(Ready(replies=(ProposalCommitted(rid, 1),)))
    assert outcomes == [Completed(rid, kv.OK, 1)]
    assert rsm.counters["replies.not_applied"] == 0


def random_log(seed: int, length: int = 400) -> list[Entry]:
    """Commands of ten clients, stamped by leaders whose clocks disagree by up
    to two timeouts, with silences long enough for sessions to expire."""
    rng = Random(seed)
    seqs = dict.fromkeys(range(1, 11), 0)
    entries = []
    now = 0
    skew = 0
    for index in range(1, length + 1):
        if rng.random() < 0.05:
            skew = rng.randint(-2 * TIMEOUT, 2 * TIMEOUT)  # a new leader, another clock
        now += rng.choice((1, 10, 100, 2 * TIMEOUT)) if rng.random() < 0.3 else 1
        client = rng.randint(1, 10)
        seqs[client] += 1
        first = max(1, seqs[client] - rng.randint(0, 2))
        command = SessionCommand(client, seqs[client], kv.append(b"k", b"%d" % client), first)
        entries.append(stamped(index, command, max(0, now + skew)))
    return entries


def state(rsm: ReplicatedStateMachine) -> bytes:
    return rsm.snapshot()[12:]  # the session table and the machine


@pytest.mark.parametrize("seed", range(5))
def test_replicas_applying_the_same_log_forget_the_same_sessions(seed: int) -> None:
    log = random_log(seed)
    one, two = replica(), replica()
    one.handle(Ready(committed=tuple(log)))
    cuts = sorted(Random(seed).sample(range(1, len(log)), 10))
    for start, end in zip([0, *cuts], [*cuts, len(log)], strict=True):
        two.handle(Ready(committed=tuple(log[start:end])))
    assert one.counters["sessions.expired"] >= 5  # the log does expire sessions...
    assert one.counters["commands.expired"] > 0  # and refuses their late commands
    assert state(one) == state(two)  # ...the same ones on both
    assert one.counters == two.counters


@pytest.mark.parametrize("seed", range(5))
def test_a_replica_restarted_from_a_snapshot_expires_the_same_sessions(seed: int) -> None:
    log = random_log(seed)
    whole = replica()
    whole.handle(Ready(committed=tuple(log)))
    first = replica()
    first.handle(Ready(committed=tuple(log[:150])))
    snapshot = first.snapshot()
    assert snapshot.startswith(b"RSM2")
    restarted = replica()
    meta = write_snapshot(restarted.snapshots, 150, 1, snapshot)
    restarted.handle(Ready(restore=meta))
    restarted.handle(Ready(committed=tuple(log[150:])))
    assert state(restarted) == state(whole)


def test_a_replica_configured_without_a_timeout_follows_the_log_all_the_same() -> None:
    log = random_log(0)
    timed, untimed = replica(), ReplicatedStateMachine(FakeNode(), KVStateMachine())
    timed.handle(Ready(committed=tuple(log)))
    untimed.handle(Ready(committed=tuple(log)))
    assert state(timed) == state(untimed)


def test_expiry_refuses_a_command_in_the_table_itself() -> None:
    table = SessionTable()
    table.advance(Stamp(0, TIMEOUT))
    table.admit(SessionCommand(1, 1, b""), 1)
    table.advance(Stamp(2 * TIMEOUT, TIMEOUT))
    assert table.admit(SessionCommand(1, 2, b"", 2), 2) == (Verdict.EXPIRED, None)
