"""The key-value state machine: its commands, answers and snapshots."""

from __future__ import annotations

from random import Random

import pytest

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
    for command in (
        b"",
        b"Z",
        b"D\x00",
        b"D\x00\x02x",
        b"P\x00",
        b"P\x00\x09ab",
        b"C\x00\x01x\x07",
        b"C\x00\x01x",
    ):
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


def test_delete_removes_the_key_and_says_whether_it_was_there() -> None:
    machine = KVStateMachine()
    machine.apply(kv.put(b"x", b"1"))
    assert kv.decode_delete(machine.apply(kv.delete(b"x"))) is True
    assert kv.decode_get(machine.query(kv.get(b"x"))) is None
    assert kv.decode_delete(machine.apply(kv.delete(b"x"))) is False
    assert machine.data == {}


def test_a_delete_with_trailing_bytes_is_malformed_and_changes_nothing() -> None:
    machine = KVStateMachine()
    machine.apply(kv.put(b"x", b"1"))
    assert machine.apply(kv.delete(b"x") + b"?")[0] == kv.ERROR
    assert machine.data == {b"x": b"1"}


def scan(
    machine: KVStateMachine, start: bytes = b"", end: bytes | None = None, limit: int = 1000
) -> kv.RangePage:
    return kv.decode_range(machine.query(kv.range_query(start, end, limit)))


def test_range_returns_the_keys_of_the_interval_in_order() -> None:
    machine = KVStateMachine()
    for key in (b"d", b"a", b"c", b"b", b"e"):
        machine.apply(kv.put(key, key.upper()))
    page = scan(machine, b"b", b"e")
    assert page.items == ((b"b", b"B"), (b"c", b"C"), (b"d", b"D"))
    assert page.more is False and page.next_start is None
    assert [k for k, _ in scan(machine, b"c").items] == [b"c", b"d", b"e"]  # open end
    assert scan(machine, b"x").items == ()
    assert scan(machine, b"c", b"c").items == ()


def test_range_stops_at_the_limit_and_says_there_is_more() -> None:
    machine = KVStateMachine()
    for n in range(10):
        machine.apply(kv.put(b"k%d" % n, b"v"))
    page = scan(machine, b"k", None, 4)
    assert [k for k, _ in page.items] == [b"k0", b"k1", b"k2", b"k3"]
    assert page.more is True
    assert page.next_start == b"k3\x00"
    pages = [page]
    while (start := pages[-1].next_start) is not None:
        pages.append(scan(machine, start, None, 4))
    assert [k for p in pages for k, _ in p.items] == [b"k%d" % n for n in range(10)]
    assert [p.more for p in pages] == [True, True, False]


def test_an_exactly_full_range_has_no_more() -> None:
    machine = KVStateMachine()
    for key in (b"a", b"b"):
        machine.apply(kv.put(key, b""))
    assert scan(machine, limit=2).more is False


def test_range_sees_keys_added_and_deleted_since_the_last_range() -> None:
    machine = KVStateMachine()
    for key in (b"a", b"b", b"c"):
        machine.apply(kv.put(key, b"1"))
    assert len(scan(machine).items) == 3
    machine.apply(kv.delete(b"b"))
    machine.apply(kv.put(b"b", b"2"))  # deleted and re-added: listed once
    machine.apply(kv.delete(b"c"))
    machine.apply(kv.append(b"aa", b"x"))
    machine.apply(kv.cas(b"z", None, b"1"))
    machine.apply(kv.cas(b"y", b"nope", b"1"))  # not swapped: not created
    machine.apply(kv.put(b"q", b""))
    machine.apply(kv.delete(b"q"))  # added and deleted between two ranges
    assert scan(machine).items == ((b"a", b"1"), (b"aa", b"x"), (b"b", b"2"), (b"z", b"1"))


def test_a_range_page_never_exceeds_the_answer_limit() -> None:
    machine = KVStateMachine(max_answer_bytes=1000)
    for n in range(50):
        machine.apply(kv.put(b"k%02d" % n, b"v" * 90))
    answer = machine.query(kv.range_query(b"", None, 1000))
    assert len(answer) <= 1000
    page = kv.decode_range(answer)
    assert 0 < len(page.items) < 50 and page.more is True
    keys: list[bytes] = []
    start: bytes | None = b""
    while start is not None:
        page = scan(machine, start)
        keys.extend(k for k, _ in page.items)
        start = page.next_start
    assert keys == sorted(machine.data)


def test_a_pair_too_large_for_any_page_is_a_typed_error_naming_its_key() -> None:
    machine = KVStateMachine(max_answer_bytes=100)
    machine.apply(kv.put(b"a", b"small"))
    machine.apply(kv.put(b"big", b"v" * 200))
    page = scan(machine)
    assert page.items == ((b"a", b"small"),) and page.next_start == b"a\x00"
    with pytest.raises(kv.EntryTooLarge) as caught:
        scan(machine, b"a\x00")
    assert caught.value.key == b"big"


def test_the_default_page_fits_the_transport_frame_limit() -> None:
    machine = KVStateMachine()
    for n in range(3):
        machine.apply(kv.put(b"k%d" % n, b"v" * 700_000))
    answer = machine.query(kv.range_query())
    assert len(answer) <= kv.DEFAULT_MAX_ANSWER_BYTES < 16 << 20
    assert kv.decode_range(answer).more is True


@pytest.mark.parametrize(
    "query",
    [b"R", b"R\x00\x05ab", b"R\x00\x00\x02\x00\x00\x00\x00\x00\x01", b"R\x00\x00\x00\x00\x00"],
    ids=["empty", "start-truncated", "bad-has-end", "limit-truncated"],
)
def test_a_malformed_range_is_answered_with_an_error(query: bytes) -> None:
    assert KVStateMachine().query(query)[0] == kv.ERROR


def test_a_zero_limit_is_refused_by_the_helper_and_the_machine() -> None:
    with pytest.raises(ValueError):
        kv.range_query(limit=0)
    query = kv.range_query(limit=1)[:-4] + b"\x00\x00\x00\x00"
    assert KVStateMachine().query(query)[0] == kv.ERROR


def test_a_restored_machine_ranges_and_deletes_like_the_original() -> None:
    machine = KVStateMachine()
    for key in (b"c", b"a", b"b"):
        machine.apply(kv.put(key, key))
    machine.apply(kv.delete(b"b"))
    copy = KVStateMachine()
    copy.restore(machine.snapshot())
    assert scan(copy) == scan(machine)
    assert kv.decode_delete(copy.apply(kv.delete(b"a"))) is True
    assert scan(copy).items == ((b"c", b"c"),)


@pytest.mark.parametrize("seed", range(20))
def test_ranges_agree_with_a_sorted_reference_through_random_writes(seed: int) -> None:
    rng = Random(seed)
    machine, reference = KVStateMachine(), {}
    keys = [b"%d" % n for n in range(rng.choice((3, 30, 300)))]
    for _ in range(600):
        key, roll = rng.choice(keys), rng.random()
        if roll < 0.3:
            machine.apply(kv.put(key, b"p"))
            reference[key] = b"p"
        elif roll < 0.5:
            machine.apply(kv.delete(key))
            reference.pop(key, None)
        elif roll < 0.6:
            machine.apply(kv.append(key, b"a"))
            reference[key] = reference.get(key, b"") + b"a"
        elif roll < 0.7:
            if kv.decode_cas(machine.apply(kv.cas(key, None, b"c"))):
                reference[key] = b"c"
        elif roll < 0.75:
            copy = KVStateMachine()
            copy.restore(machine.snapshot())
            machine = copy
        else:
            start, end = sorted(rng.sample(keys, 2)) if len(keys) > 1 else (b"", None)
            page = scan(machine, start, end, 10_000)
            expected = sorted(
                (k, v) for k, v in reference.items() if start <= k and (end is None or k < end)
            )
            assert list(page.items) == expected
    assert machine.data == reference
