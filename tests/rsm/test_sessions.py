"""Session envelopes and the de-duplication rule."""

from __future__ import annotations

import pytest

from pyconsensus.rsm import ClientSession, SessionCommand, SessionTable
from pyconsensus.rsm.envelope import HEADER_SIZE, decode
from pyconsensus.rsm.sessions import Verdict


def test_an_envelope_decodes_to_the_command_it_encodes() -> None:
    command = SessionCommand(client_id=2**63, seq=7, payload=b"\x00data", first_unacked=5)
    assert decode(command.encode()) == command


def test_first_unacked_defaults_to_the_sequence_number() -> None:
    decoded = decode(SessionCommand(3, 9, b"x").encode())
    assert decoded is not None and decoded.first_unacked == 9


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"raw proposal bytes that are long enough to look like a header",
        bytes([0xC1]) + bytes(HEADER_SIZE - 2),  # too short
        bytes([0xC1]) + (1).to_bytes(8, "big") + bytes(8) + (1).to_bytes(8, "big"),  # seq 0
    ],
)
def test_what_is_not_an_envelope_decodes_to_none(data: bytes) -> None:
    assert decode(data) is None


def test_first_unacked_beyond_the_sequence_number_is_rejected() -> None:
    bad = bytearray(SessionCommand(1, 2, b"").encode())
    bad[17:25] = (3).to_bytes(8, "big")
    assert decode(bytes(bad)) is None


def test_a_new_command_is_applied_and_its_copy_is_a_duplicate() -> None:
    table = SessionTable()
    command = SessionCommand(1, 1, b"x")
    assert table.admit(command, index=1) == (Verdict.APPLY, None)
    table.record(command, b"answer")
    assert table.admit(command, index=2) == (Verdict.DUPLICATE, b"answer")


def test_answers_below_first_unacked_are_forgotten_and_their_copies_refused() -> None:
    table = SessionTable()
    first = SessionCommand(1, 1, b"a")
    table.admit(first, 1)
    table.record(first, b"A")
    table.admit(SessionCommand(1, 2, b"b", first_unacked=2), 2)
    assert table.answer(1, 1) is None
    assert table.admit(first, 3) == (Verdict.STALE, None)


def test_an_unknown_client_that_claims_earlier_answers_has_expired() -> None:
    table = SessionTable()
    assert table.admit(SessionCommand(9, 5, b"x", first_unacked=4), 1) == (Verdict.EXPIRED, None)
    assert len(table) == 0


def test_the_least_recently_active_session_is_evicted_first() -> None:
    table = SessionTable(max_sessions=2)
    for index, client in enumerate((1, 2, 1, 3), start=1):
        table.admit(SessionCommand(client, index, b"", first_unacked=1), index)
    assert sorted(table.sessions) == [1, 3]
    assert table.evicted == 1


def test_the_table_survives_encoding() -> None:
    table = SessionTable()
    for client, seq in ((5, 1), (5, 2), (1, 1)):
        command = SessionCommand(client, seq, b"", first_unacked=1)
        table.admit(command, seq)
        table.record(command, b"r%d" % seq)
    data = b"prefix" + table.encode()
    copy, end = SessionTable.decode(data, 6, 4096)
    assert end == len(data)
    assert copy.encode() == table.encode()
    assert copy.answer(5, 2) == b"r2"


def test_truncated_table_data_is_refused() -> None:
    table = SessionTable()
    command = SessionCommand(1, 1, b"")
    table.admit(command, 1)
    table.record(command, b"answer")
    data = table.encode()
    with pytest.raises(ValueError):
        SessionTable.decode(data[:-2], 0, 10)


def test_the_client_session_tracks_the_lowest_open_sequence_number() -> None:
    session = ClientSession(4)
    one = session.next(b"a")
    two = session.next(b"b")
    assert (one.seq, two.seq, two.first_unacked) == (1, 2, 1)
    session.settle(1)
    assert session.envelope(two).first_unacked == 2
    session.settle(2)
    assert session.next(b"c").first_unacked == 3
