"""The key-value state machine: its commands, answers and snapshots."""

from __future__ import annotations

from pyconsensus.rsm import KVStateMachine, kv


def test_put_then_get_returns_the_value() -> None:
    machine = KVStateMachine()
    assert machine.apply(kv.put(b"x", b"1")) == kv.OK
    assert kv.decode_get(machine.query(kv.get(b"x"))) == b"1"


def test_get_of_a_missing_key_says_absent() -> None:
    assert kv.decode_get(KVStateMachine().query(kv.get(b"nothing"))) is None


def test_append_extends_the_value_and_creates_missing_keys() -> None:
    machine = KVStateMachine()
    machine.apply(kv.append(b"x", b"a"))
    machine.apply(kv.append(b"x", b"b"))
    assert kv.decode_get(machine.query(kv.get(b"x"))) == b"ab"


def test_compare_and_set_swaps_only_on_a_match() -> None:
    machine = KVStateMachine()
    assert kv.decode_cas(machine.apply(kv.cas(b"x", None, b"1"))) is True  # create
    assert kv.decode_cas(machine.apply(kv.cas(b"x", None, b"2"))) is False  # exists now
    assert kv.decode_cas(machine.apply(kv.cas(b"x", b"0", b"2"))) is False
    assert kv.decode_cas(machine.apply(kv.cas(b"x", b"1", b"2"))) is True
    assert kv.decode_get(machine.query(kv.get(b"x"))) == b"2"


def test_malformed_commands_get_the_same_error_answer_everywhere() -> None:
    for command in (b"", b"Z", b"P\x00", b"P\x00\x09ab", b"C\x00\x01x\x07", b"C\x00\x01x"):
        first, second = KVStateMachine(), KVStateMachine()
        answer = first.apply(command)
        assert answer[0] == kv.ERROR
        assert second.apply(command) == answer
        assert first.data == {}


def test_an_unknown_query_is_answered_with_an_error() -> None:
    assert KVStateMachine().query(b"?x")[0] == kv.ERROR


def test_a_snapshot_restores_the_same_state() -> None:
    machine = KVStateMachine()
    machine.apply(kv.put(b"a", b"1"))
    machine.apply(kv.put(b"", b""))
    machine.apply(kv.append(b"b\x00", b"\xff" * 300))
    copy = KVStateMachine()
    copy.restore(machine.snapshot())
    assert copy.data == machine.data
    assert copy.snapshot() == machine.snapshot()
