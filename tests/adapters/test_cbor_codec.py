"""The CBOR codec by example: frame layout, registration, and every way decoding refuses."""

from __future__ import annotations

import pickle
import threading
from typing import Any

import attrs
import cbor2
import pytest

from pyconsensus.adapters.cbor import (
    FORMAT_VERSION,
    Codec,
    DecodeError,
    EncodeError,
    Limits,
    decode,
    default_codec,
    encode,
)
from pyconsensus.adapters.cbor.codegen import SMALL_BATCH
from pyconsensus.adapters.cbor.tags import CORE, PROTOCOLS, RAFT
from pyconsensus.core.errors import ConfigError, ConsensusError
from pyconsensus.core.membership import Membership
from pyconsensus.core.snapshots import SnapshotMeta
from pyconsensus.core.types import Entry, EntryKind, Snapshot
from pyconsensus.raft.messages import (
    MESSAGE_TYPES,
    AppendEntries,
    Heartbeat,
    InstallSnapshot,
    InstallSnapshotResponse,
    RequestVote,
)
from tests.adapters.cbor_samples import (
    Ballot,
    Colour,
    Empty,
    Everything,
    KeywordOnly,
    Ledger,
    Level,
    Recursive,
    Validated,
    sample_codec,
)


def append(n: int, *, kind: EntryKind = EntryKind.NORMAL) -> AppendEntries:
    entries = tuple(Entry(10 + i, 3, bytes([i % 256]) * 5, kind) for i in range(n))
    return AppendEntries(src=1, dst=2, term=3, prev_index=9, prev_term=2, entries=entries, commit=8)


def body(frame: bytes) -> Any:
    return cbor2.loads(frame[2:])


def frame_of(tag: int, value: Any, version: int = FORMAT_VERSION) -> bytes:
    return bytes((version, tag)) + cbor2.dumps(value)


def everything(**changes: Any) -> Everything:
    values: dict[str, Any] = dict(
        number=-5,
        flag=True,
        blob=b"\x00\xff",
        text="żółw",
        maybe_number=None,
        colour=Colour.GREEN,
        maybe_colour=Colour.RED,
        level=Level.HIGH,
        ballot=Ballot(3, 1),
        maybe_ballot=None,
        numbers=(1, 2, 3),
        maybe_numbers=(None, 4),
        colours=(Colour.RED,),
        ballots=tuple(Ballot(i, i + 1) for i in range(SMALL_BATCH + 3)),
        maybe_ballots=(None, Ballot(1, 1)),
        pair=(7, b"x"),
        coloured_pair=(Colour.GREEN, None),
        nested=((1,), (), (2, 3)),
        members=frozenset({3, 1, 2}),
        levels=frozenset({Level.LOW}),
        entries=(Entry(1, 1, b"a", EntryKind.CONFIG),),
        snapshot=Snapshot(4, 2, b"state"),
    )
    values.update(changes)
    return Everything(**values)


# -- the registry ------------------------------------------------------------


def test_every_raft_message_is_registered_once() -> None:
    assert set(RAFT.values()) == set(MESSAGE_TYPES)
    registered = default_codec().types
    assert set(registered.values()) >= set(MESSAGE_TYPES) | {Entry, Snapshot}
    assert len(set(registered.values())) == len(registered)
    assert set(PROTOCOLS) >= {"core", "raft"}
    assert {0x01: Entry, 0x02: Snapshot, 0x03: SnapshotMeta, 0x04: Membership} == CORE


def test_frame_starts_with_version_and_tag() -> None:
    frame = encode(Heartbeat(1, 2, 3, 4, 5))
    assert frame[0] == FORMAT_VERSION
    assert frame[1] == default_codec().tag_of(Heartbeat)
    assert body(frame) == [1, 2, 3, 4, 5]


def test_entries_travel_as_one_flat_array() -> None:
    frame = encode(append(2, kind=EntryKind.NOOP))
    assert body(frame)[5] == [10, 3, b"\x00" * 5, 1, 11, 3, b"\x01" * 5, 1]


def test_nested_record_travels_as_array_of_its_fields() -> None:
    meta = SnapshotMeta(7, 2, None, 1, "sha256:00")
    frame = encode(InstallSnapshot(1, 2, 3, meta, 0, b"s", True))
    assert body(frame) == [1, 2, 3, [7, 2, None, 1, "sha256:00"], 0, b"s", True]


def test_snapshot_messages_round_trip_with_a_membership() -> None:
    meta = SnapshotMeta(7, 2, Membership({1, 2, 3}, learners={4}), 1, "sha256:00")
    for message in (
        InstallSnapshot(1, 2, 3, meta, 0, b"s", True),
        InstallSnapshotResponse(2, 1, 3, meta, 1),
    ):
        assert decode(encode(message)) == message


@pytest.mark.parametrize("n", [0, 1, SMALL_BATCH, SMALL_BATCH + 1, 300])
def test_append_entries_round_trip_on_both_sides_of_the_small_batch_threshold(n: int) -> None:
    message = append(n, kind=EntryKind.CONFIG)
    assert decode(encode(message)) == message


def test_every_shape_round_trips() -> None:
    codec = sample_codec()
    for obj in (
        everything(),
        everything(maybe_number=2, maybe_ballot=Ballot(0, 0), snapshot=None, ballots=()),
        KeywordOnly(1, visible=b"v"),
        Ledger((Validated(1),) * (SMALL_BATCH + 2), (KeywordOnly(2, visible=b""),) * 2),
        Empty(),
    ):
        assert codec.decode(codec.encode(obj)) == obj


def test_decoded_tuples_are_tuples_and_sets_are_frozensets() -> None:
    codec = sample_codec()
    decoded = codec.decode(codec.encode(everything()))
    assert type(decoded.numbers) is tuple
    assert type(decoded.ballots) is tuple
    assert type(decoded.nested[0]) is tuple
    assert type(decoded.members) is frozenset
    assert decoded.colour is Colour.GREEN
    assert decoded.level is Level.HIGH


def test_sets_are_encoded_sorted() -> None:
    codec = sample_codec()
    encoded = body(codec.encode(everything(members=frozenset({9, 1, 5}))))
    assert encoded[18] == [1, 5, 9]


def test_objects_built_without_init_equal_objects_built_with_it() -> None:
    message = decode(encode(append(SMALL_BATCH + 5)))
    rebuilt = tuple(Entry(e.index, e.term, e.data, e.kind) for e in message.entries)
    assert message.entries == rebuilt
    assert hash(message.entries) == hash(rebuilt)
    assert all(type(e) is Entry for e in message.entries)


def test_duplicate_tags_and_classes_are_refused() -> None:
    with pytest.raises(ConfigError, match="twice"):
        Codec({1: Entry, 2: Entry})
    with pytest.raises(ConfigError, match=r"1\.\.255"):
        Codec({256: Entry})
    with pytest.raises(ConfigError, match=r"1\.\.255"):
        Codec({0: Entry})


def test_unsupported_annotations_fail_at_registration() -> None:
    @attrs.frozen
    class WithFloat:
        x: float

    @attrs.frozen
    class WithUnion:
        x: int | bytes

    @attrs.frozen
    class WithList:
        x: list[int]

    for cls, reason in [
        (WithFloat, "cannot encode"),
        (WithUnion, "only `X | None`"),
        (WithList, "cannot encode"),
        (Recursive, "contains itself"),
        (int, "not an attrs class"),
    ]:
        with pytest.raises(ConfigError, match=reason):
            Codec({0x10: cls})


def test_a_type_nested_deeper_than_max_depth_is_refused() -> None:
    with pytest.raises(ConfigError, match="max_depth"):
        Codec({0x10: Everything}, Limits(max_depth=2))


def test_generated_source_is_readable() -> None:
    source = default_codec().source()
    assert "def dec_AppendEntries" in source
    assert "def encitems_Entry" in source


# -- encoding errors -----------------------------------------------------------


def test_encoding_an_unregistered_type_raises_encode_error() -> None:
    with pytest.raises(EncodeError, match="not a registered type"):
        encode(object())
    with pytest.raises(EncodeError):
        encode(Ballot(1, 2))  # registered only in the sample codec


def test_encoding_a_value_cbor_cannot_carry_raises_encode_error() -> None:
    bad = Heartbeat(1, 2, 3, 4, object())  # type: ignore[arg-type]
    with pytest.raises(EncodeError, match="cannot encode Heartbeat"):
        encode(bad)


def test_encoding_a_frame_over_the_limit_raises_encode_error() -> None:
    codec = Codec(RAFT, Limits(max_frame_bytes=1000))
    with pytest.raises(EncodeError, match="exceeds the limit"):
        codec.encode(append(200))
    assert isinstance(EncodeError("x"), ConsensusError)


# -- decoding errors -----------------------------------------------------------


def reason(frame: object, codec: Codec | None = None) -> str:
    with pytest.raises(DecodeError) as info:
        (codec or default_codec()).decode(frame)  # type: ignore[arg-type]
    return str(info.value)


def test_decode_error_is_a_consensus_error_and_pickles() -> None:
    error = DecodeError("expected int, got str", "Heartbeat.term")
    assert isinstance(error, ConsensusError)
    assert isinstance(error, ValueError)
    clone = pickle.loads(pickle.dumps(error))
    assert str(clone) == str(error) == "Heartbeat.term: expected int, got str"
    assert clone.path == "Heartbeat.term"


def test_frame_level_problems_are_named() -> None:
    good = encode(Heartbeat(1, 2, 3, 4, 5))
    assert "not str" in reason("abc")
    assert "too short" in reason(b"")
    assert "too short" in reason(good[:2])
    assert "format version 2 is not supported" in reason(bytes([2]) + good[1:])
    assert "unknown type tag 0xee" in reason(good[:1] + b"\xee" + good[2:])
    assert "array of Heartbeat's fields" in reason(good[:2] + cbor2.dumps({"a": 1}))
    assert "unexpected bytes after the body" in reason(good + b"\x00")
    assert "malformed CBOR" in reason(good[:-1])


def test_a_bad_frame_leaves_nothing_behind_for_the_next_one() -> None:
    """Decoders and their streams are reused frame after frame; after a frame
    that fails half-way through parsing, the next frame decodes as if first."""
    good = encode(append(3))
    for bad in (good[:-1], good[: len(good) // 2], good + b"\x00", good[:2] + b"\x87\x01"):
        assert reason(bad)
        assert decode(good) == append(3)
    assert decode(encode(Heartbeat(1, 2, 3, 4, 5))) == Heartbeat(1, 2, 3, 4, 5)


def test_bytearray_and_memoryview_frames_are_accepted() -> None:
    frame = encode(Heartbeat(1, 2, 3, 4, 5))
    assert decode(bytearray(frame)) == decode(memoryview(frame)) == Heartbeat(1, 2, 3, 4, 5)


def test_field_type_errors_name_the_field() -> None:
    tag = default_codec().tag_of(Heartbeat)
    assert reason(frame_of(tag, [1, 2, "3", 4, 5])) == "Heartbeat.term: expected int, got str '3'"
    assert "Heartbeat.src: expected int, got bool" in reason(frame_of(tag, [True, 2, 3, 4, 5]))
    assert "Heartbeat.src: expected int, got float" in reason(frame_of(tag, [1.0, 2, 3, 4, 5]))
    tag = default_codec().tag_of(RequestVote)
    assert "RequestVote.pre_vote: expected bool, got int" in reason(frame_of(tag, [1] * 6))


def test_entry_errors_name_the_entry_on_both_paths() -> None:
    tag = default_codec().tag_of(AppendEntries)

    def with_entries(flat: list[Any]) -> bytes:
        return frame_of(tag, [1, 2, 3, 9, 2, flat, 8])

    small = [10, 3, b"x", 0, 11, "3", b"y", 0]
    assert "AppendEntries.entries[1].term: expected int, got str" in reason(with_entries(small))
    big: list[Any] = [v for i in range(20) for v in (10 + i, 3, b"x", 0)]
    big[4 * 13 + 2] = "not bytes"
    assert "AppendEntries.entries.data[13]: expected bytes" in reason(with_entries(big))
    big[4 * 13 + 2] = b"ok"
    big[4 * 15 + 3] = 7
    assert "AppendEntries.entries.kind[15]: 7 is not a known value" in reason(with_entries(big))
    assert "4 values per item" in reason(with_entries([10, 3, b"x"]))
    assert "expected a EntryKind value, got int 9" in reason(with_entries([10, 3, b"x", 9]))


def test_collection_limit_is_checked_before_objects_are_built() -> None:
    codec = Codec(RAFT, Limits(max_items=4))
    assert codec.decode(codec.encode(append(4))) == append(4)
    too_many = default_codec().encode(append(5))
    assert "5 items exceed the limit of 4" in reason(too_many, codec)


def test_frame_size_limit_is_checked_before_parsing() -> None:
    codec = Codec(RAFT, Limits(max_frame_bytes=64))
    frame = default_codec().encode(append(10))
    assert "exceeds the limit of 64" in reason(frame, codec)


def test_fixed_size_types_get_a_tight_frame_limit() -> None:
    tag = default_codec().tag_of(Heartbeat)
    padded = bytes((FORMAT_VERSION, tag)) + b"\x85" + b"\x00" * 100
    assert "exceeds the limit of" in reason(padded)


def test_nesting_beyond_what_the_type_needs_is_refused_while_parsing() -> None:
    tag = default_codec().tag_of(Heartbeat)
    assert "nesting depth" in reason(frame_of(tag, [[1], 2, 3, 4, 5]))


@pytest.mark.parametrize(
    "tagged",
    [
        cbor2.CBORTag(2, b"\x01" * 9),  # bignum
        cbor2.CBORTag(1, 0),  # epoch datetime
        cbor2.CBORTag(35, "a+"),  # regular expression
        cbor2.CBORTag(28, [1]),  # shareable
        cbor2.CBORTag(55799, 1),  # self-described CBOR
        cbor2.CBORTag(4711, 1),  # unknown tag
    ],
)
def test_every_cbor_tag_is_refused(tagged: cbor2.CBORTag) -> None:
    tag = default_codec().tag_of(Heartbeat)
    assert "is not allowed" in reason(frame_of(tag, [1, 2, tagged, 4, 5]))


def test_indefinite_lengths_and_maps_are_refused() -> None:
    tag = default_codec().tag_of(AppendEntries)
    indefinite = bytes((FORMAT_VERSION, tag)) + b"\x87\x01\x02\x03\x09\x02\x9f\xff\x08"
    assert "indefinite" in reason(indefinite)
    assert "expected an array" in reason(frame_of(tag, [1, 2, 3, 9, 2, {"k": 2}, 8]))


def test_a_validator_refusal_is_a_decode_error() -> None:
    codec = sample_codec()
    tag = codec.tag_of(Validated)
    assert "rejected by the class: ValueError" in reason(frame_of(tag, [-1]), codec)
    ledger = codec.tag_of(Ledger)
    assert "Ledger.items" in reason(frame_of(ledger, [[1, 2, -3], []]), codec)
    assert "Ledger.items" in reason(frame_of(ledger, [[1] * 20 + [-3], []]), codec)


def test_duplicate_set_items_are_refused() -> None:
    codec = sample_codec()
    encoded = body(codec.encode(everything()))
    encoded[18] = [1, 1]
    assert "duplicate set items" in reason(frame_of(codec.tag_of(Everything), encoded), codec)


def test_decode_as_checks_the_type() -> None:
    frame = encode(Snapshot(1, 2, b"x"))
    assert default_codec().decode_as(frame, Snapshot) == Snapshot(1, 2, b"x")
    with pytest.raises(DecodeError, match="expected a Entry frame"):
        default_codec().decode_as(frame, Entry)


def test_a_failed_decode_leaves_the_reused_decoder_clean() -> None:
    good = encode(append(3))
    for bad in (good[:-3], good[:2] + b"\x87\x01\x02\x03\x09\x02\x84\x01", good + b"\x01"):
        with pytest.raises(DecodeError):
            decode(bad)
        assert decode(good) == append(3)


def test_threads_encode_and_decode_independently() -> None:
    frames = [encode(append(n)) for n in range(12)]
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(30):
                for n, frame in enumerate(frames):
                    assert encode(append(n)) == frame
                    assert decode(frame) == append(n)
        except BaseException as exc:  # report, do not swallow
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


# -- the single-entry fast path --------------------------------------------------


def test_a_single_entry_travels_exactly_like_a_batch_of_one() -> None:
    """One entry is encoded and decoded inline (no loop, no call); the bytes are
    those of the general path, and every kind and payload survives it."""
    for kind in EntryKind:
        message = append(1, kind=kind)
        frame = encode(message)
        assert body(frame)[5] == [10, 3, b"\x00" * 5, int(kind)]
        assert decode(frame) == message
        assert type(decode(frame).entries) is tuple
    huge = AppendEntries(1, 2, 3, 4, 5, (Entry(2**63, 2**63, b"x" * 70_000),), 6)
    assert decode(encode(huge)) == huge


def test_every_bad_field_of_a_single_entry_is_named() -> None:
    tag = default_codec().tag_of(AppendEntries)

    def entries(flat: Any) -> bytes:
        return frame_of(tag, [1, 2, 3, 9, 2, flat, 8])

    where = "AppendEntries.entries[0]"
    assert f"{where}.index: expected int, got str" in reason(entries(["10", 3, b"x", 0]))
    assert f"{where}.term: expected int, got bool" in reason(entries([10, True, b"x", 0]))
    assert f"{where}.data: expected bytes, got str" in reason(entries([10, 3, "x", 0]))
    assert f"{where}.kind: expected EntryKind, got NoneType" in reason(entries([10, 3, b"x", None]))
    assert f"{where}.kind: expected a EntryKind value, got int 9" in reason(
        entries([10, 3, b"x", 9])
    )
    assert "nesting depth" in reason(entries([[10], 3, b"x", 0]))  # refused by the parser
    # Four of something other than a list never take the fast path.
    assert "AppendEntries.entries: expected an array, got str" in reason(entries("abcd"))
    assert "AppendEntries.entries: expected an array, got bytes" in reason(entries(b"abcd"))
    assert "4 values per item" in reason(entries([10, 3, b"x", 0, 11]))
    assert decode(entries([10, 3, b"x", 0])) == AppendEntries(
        1, 2, 3, 9, 2, (Entry(10, 3, b"x"),), 8
    )


def test_a_single_item_of_a_validated_or_keyword_only_class_goes_through_init() -> None:
    codec = sample_codec()
    ledger = codec.tag_of(Ledger)
    one = Ledger((Validated(1),), (KeywordOnly(2, visible=b"v"),))
    assert codec.decode(codec.encode(one)) == one
    assert body(codec.encode(one)) == [[1], [2, b"v"]]
    refused = reason(frame_of(ledger, [[-3], []]), codec)
    assert "Ledger.items[0]: rejected by the class: ValueError" in refused
    assert "Ledger.owners[0].visible: expected bytes" in reason(
        frame_of(ledger, [[], [2, "v"]]), codec
    )


def test_an_entry_cbor_cannot_carry_fails_encoding_and_the_next_encode_is_clean() -> None:
    good = append(1)
    bad = AppendEntries(1, 2, 3, 4, 5, (Entry(1, 1, object()),), 6)  # type: ignore[arg-type]
    with pytest.raises(EncodeError, match="cannot encode AppendEntries"):
        encode(bad)
    assert decode(encode(good)) == good
    assert encode(good) == default_codec().encode(good)
