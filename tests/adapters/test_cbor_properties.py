"""Properties of the codec over generated inputs: round trips for every registered
type, and nothing but ``DecodeError`` from random, mutated or ill-typed frames."""

from __future__ import annotations

from typing import Any

import cbor2
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pyconsensus.adapters.cbor import FORMAT_VERSION, Codec, DecodeError, default_codec
from tests.adapters.cbor_samples import sample_codec
from tests.adapters.strategies import CBOR_INTS, messages

CODECS = {"default": default_codec(), "samples": sample_codec()}

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def decode_or_refuse(codec: Codec, frame: bytes) -> Any:
    """Decode ``frame``; a refusal must be a ``DecodeError``, a success must be an
    object of a registered type that re-encodes to an equal object."""
    try:
        obj = codec.decode(frame)
    except DecodeError as exc:
        assert str(exc)
        return None
    assert type(obj) in codec.types.values()
    assert codec.decode(codec.encode(obj)) == obj
    return obj


@FAST
@given(st.data())
def test_every_registered_type_round_trips(data: st.DataObject) -> None:
    for codec in CODECS.values():
        obj = data.draw(messages(codec))
        frame = codec.encode(obj)
        decoded = codec.decode(frame)
        assert decoded == obj
        assert type(decoded) is type(obj)
        assert codec.encode(decoded) == frame  # the encoding is deterministic


@FAST
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_decode_error(frame: bytes) -> None:
    for codec in CODECS.values():
        decode_or_refuse(codec, frame)


@FAST
@given(st.binary(max_size=200), st.sampled_from(sorted(CODECS)), st.data())
def test_random_bodies_behind_a_valid_header_raise_only_decode_error(
    body: bytes, name: str, data: st.DataObject
) -> None:
    codec = CODECS[name]
    tag = data.draw(st.sampled_from(sorted(codec.types)))
    decode_or_refuse(codec, bytes((FORMAT_VERSION, tag)) + body)


def mutate(frame: bytes, data: st.DataObject) -> bytes:
    out = bytearray(frame)
    for _ in range(data.draw(st.integers(1, 4))):
        action = data.draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        where = data.draw(st.integers(0, max(len(out) - 1, 0)))
        if action == "flip" and out:
            out[where] ^= 1 << data.draw(st.integers(0, 7))
        elif action == "set" and out:
            out[where] = data.draw(st.integers(0, 255))
        elif action == "insert":
            out[where:where] = data.draw(st.binary(min_size=1, max_size=4))
        elif action == "delete" and out:
            del out[where : where + data.draw(st.integers(1, 4))]
        else:
            del out[where:]
    return bytes(out)


@FAST
@given(st.data())
def test_mutated_frames_raise_only_decode_error(data: st.DataObject) -> None:
    for codec in CODECS.values():
        frame = codec.encode(data.draw(messages(codec)))
        mutated = mutate(frame, data)
        assume(mutated != frame)
        decode_or_refuse(codec, mutated)


# Well-formed CBOR of the wrong shape: every value CBOR can carry, nested.
cbor_values = st.recursive(
    st.none()
    | st.booleans()
    | CBOR_INTS
    | st.floats(allow_nan=False)
    | st.binary(max_size=8)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=30,
)


@FAST
@given(st.data())
def test_well_formed_cbor_of_the_wrong_shape_raises_only_decode_error(
    data: st.DataObject,
) -> None:
    for codec in CODECS.values():
        tag = data.draw(st.sampled_from(sorted(codec.types)))
        fields = len(codec.shape(codec.types[tag]).fields)
        value = data.draw(st.lists(cbor_values, min_size=fields, max_size=fields))
        decode_or_refuse(codec, bytes((FORMAT_VERSION, tag)) + cbor2.dumps(value))


@FAST
@given(st.data())
def test_one_wrong_field_in_a_valid_message_is_caught(data: st.DataObject) -> None:
    """Swap a single field of a valid encoding for an arbitrary CBOR value: the
    result is refused unless that value happens to be valid for the field."""
    for codec in CODECS.values():
        obj = data.draw(messages(codec))
        frame = codec.encode(obj)
        body: list[Any] = cbor2.loads(frame[2:])
        if not body:
            continue
        index = data.draw(st.integers(0, len(body) - 1))
        body[index] = data.draw(cbor_values)
        decode_or_refuse(codec, frame[:2] + cbor2.dumps(body))
