"""``Codec``: frames for registered attrs classes.

A frame is ``version (1 byte) | tag (1 byte) | body`` where the body is one
CBOR array holding the object's fields in declaration order (see
``pyconsensus.adapters.cbor`` for the full wire format). Everything that can be
checked before the CBOR parser runs is checked first: the version, the tag,
the frame size against the limit for that type, and the array header.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from io import BytesIO
from typing import Any, Final, TypeVar

import attrs
import cbor2

from pyconsensus.adapters.cbor.codegen import Decoder, Encoder, Generator
from pyconsensus.adapters.cbor.errors import DecodeError, EncodeError
from pyconsensus.adapters.cbor.shapes import Record, depth, max_size, record_shape
from pyconsensus.core.errors import ConfigError

FORMAT_VERSION: Final = 1
"""The first byte of every frame. A decoder refuses any other version."""

HEADER_BYTES: Final = 2

T = TypeVar("T")


def _at_least(minimum: int) -> Any:
    def check(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
        if type(value) is not int or value < minimum:
            raise ConfigError(f"{attribute.name} must be an integer >= {minimum}, got {value!r}")

    return check


@attrs.frozen(slots=True)
class Limits:
    """Bounds a decoder enforces, so a hostile peer cannot make it allocate at will.

    ``max_frame_bytes`` is checked before any parsing (and at encoding, so that
    a node never sends what its peers would refuse); types whose fields are all
    fixed-size get a tighter, computed bound. ``max_depth`` caps how deeply
    arrays may nest: each type gets exactly the depth its shape needs, enforced
    by the CBOR parser as it goes. ``max_items`` bounds every collection field
    and is checked before any object of the collection is built.
    """

    max_frame_bytes: int = attrs.field(default=16 << 20, validator=_at_least(HEADER_BYTES + 1))
    max_depth: int = attrs.field(default=8, validator=_at_least(1))
    max_items: int = attrs.field(default=65_536, validator=_at_least(1))


class _TagRejected(Exception):
    pass


class _NoTags(Mapping[int, Any]):
    """Passed to cbor2 as its semantic-decoder table. cbor2 looks a tag up here
    as soon as it reads the tag number, before the tagged content, so raising
    refuses every tag - bignums, shared references, dates, regexes - without
    decoding what it wraps. Our encoding never uses tags."""

    def __getitem__(self, tag: int) -> Any:
        raise _TagRejected(f"CBOR tag {tag} is not allowed")

    def __iter__(self) -> Iterator[int]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _reject_tag(*args: object) -> Any:  # pragma: no cover - _NoTags refuses first
    raise _TagRejected("CBOR tags are not allowed")


_NO_TAGS: Final = _NoTags()


@attrs.frozen(slots=True)
class _TypeCodec:
    tag: int
    cls: type
    name: str
    header: bytes
    array_head: bytes  # the CBOR array header the body must start with
    head_byte: int  # its first byte (all of it for fewer than 24 fields)
    depth: int
    max_frame: int
    encode: Encoder
    decode: Decoder


def _array_head(length: int) -> bytes:
    return cbor2.dumps([None] * length)[: -length or None]


class _PerThread(threading.local):
    """cbor2 state reused by one thread (cbor2 encoders and decoders are
    stateful while they run, and creating one per frame - or even giving a
    decoder a new stream - costs more than the work on a small message).

    ``by_depth`` holds one decoder per nesting depth, each reading from its own
    reusable ``BytesIO``; ``encoder`` is one encoder whose ``encode_to_bytes``
    returns the bytes of one value without touching its own stream. After a
    failure either is replaced, so no state of a bad frame carries over."""

    def __init__(self) -> None:
        self.by_depth: dict[int, tuple[Any, BytesIO]] = {}
        self.encoder: cbor2.CBOREncoder = _new_encoder()


def _new_encoder() -> cbor2.CBOREncoder:
    return cbor2.CBOREncoder(BytesIO())


class Codec:
    """Encodes registered attrs classes to frames and decodes frames back.

    ``types`` maps each one-byte tag (1-255) to its class. Encoders and decoders
    are generated once here; ``encode``/``decode`` do no reflection. A codec is
    immutable and may be shared between threads.
    """

    def __init__(self, types: Mapping[int, type], limits: Limits | None = None) -> None:
        self.limits = limits if limits is not None else Limits()
        self._generator = Generator(self.limits.max_items)
        self._by_tag: list[_TypeCodec | None] = [None] * 256
        self._by_class: dict[type, _TypeCodec] = {}
        self._per_thread = _PerThread()
        for tag, cls in sorted(types.items()):
            self._register(tag, cls)
        # Build this thread's decoders now, so that a cbor2 without the options
        # we rely on fails here, loudly, rather than inside decode().
        for depth_needed in {spec.depth for spec in self._by_class.values()}:
            self._new_decoder(depth_needed)

    def _register(self, tag: int, cls: type) -> None:
        if type(tag) is not int or not 1 <= tag <= 255:
            raise ConfigError(f"tag of {cls!r} must be an integer in 1..255, got {tag!r}")
        existing = self._by_tag[tag]
        if existing is not None:
            raise ConfigError(f"tag 0x{tag:02x} is given to both {existing.name} and {cls!r}")
        if cls in self._by_class:
            raise ConfigError(f"{cls.__qualname__} is registered twice")
        try:
            record = record_shape(cls)
        except TypeError as exc:
            raise ConfigError(f"cannot register {cls!r} under tag 0x{tag:02x}: {exc}") from exc
        needed = depth(record)
        if needed > self.limits.max_depth:
            raise ConfigError(
                f"{record.name} nests arrays {needed} deep, "
                f"beyond max_depth={self.limits.max_depth}"
            )
        bound = max_size(record)
        limit = self.limits.max_frame_bytes
        head = _array_head(len(record.fields))
        spec = _TypeCodec(
            tag=tag,
            cls=cls,
            name=record.name,
            header=bytes((FORMAT_VERSION, tag)),
            array_head=head,
            head_byte=head[0],
            depth=needed,
            max_frame=min(limit, HEADER_BYTES + bound) if bound is not None else limit,
            encode=self._generator.encoder(record),
            decode=self._generator.decoder(record),
        )
        self._by_tag[tag] = spec
        self._by_class[cls] = spec

    # -- introspection -----------------------------------------------------

    @property
    def types(self) -> Mapping[int, type]:
        """The registered classes by tag."""
        return {spec.tag: spec.cls for spec in self._by_tag if spec is not None}

    def tag_of(self, cls: type) -> int:
        return self._by_class[cls].tag

    def shape(self, cls: type) -> Record:
        """The shape derived from ``cls``'s annotations (what tests generate from)."""
        return record_shape(self._by_class[cls].cls)

    def source(self) -> str:
        """The generated encoder and decoder source, for reading and debugging."""
        return "\n".join(self._generator.sources.values())

    # -- encoding ----------------------------------------------------------

    def encode(self, obj: object) -> bytes:
        """The frame of ``obj``, whose exact class must be registered.

        Field values are trusted to match their annotations (decoding on the
        other side checks everything); what CBOR cannot carry raises
        ``EncodeError``, and so does a frame larger than ``max_frame_bytes``.
        """
        spec = self._by_class.get(type(obj))
        if spec is None:
            raise EncodeError(f"{type(obj).__qualname__} is not a registered type")
        per_thread = self._per_thread
        try:
            frame = spec.header + per_thread.encoder.encode_to_bytes(spec.encode(obj))
        except Exception as exc:
            per_thread.encoder = _new_encoder()
            raise EncodeError(f"cannot encode {spec.name}: {exc}") from exc
        if len(frame) > spec.max_frame:
            raise EncodeError(
                f"{spec.name} frame of {len(frame)} bytes exceeds the limit of {spec.max_frame}"
            )
        return frame

    # -- decoding ----------------------------------------------------------

    def decode(self, frame: bytes | bytearray | memoryview) -> Any:
        """The object ``frame`` encodes, fully type-checked, or ``DecodeError``."""
        if type(frame) is not bytes:
            if not isinstance(frame, bytearray | memoryview):
                raise DecodeError(f"a frame must be bytes, not {type(frame).__name__}")
            frame = bytes(frame)
        size = len(frame)
        if size <= HEADER_BYTES:
            raise DecodeError(f"a frame of {size} bytes is too short")
        if frame[0] != FORMAT_VERSION:
            raise DecodeError(
                f"format version {frame[0]} is not supported (this build reads {FORMAT_VERSION})"
            )
        spec = self._by_tag[frame[1]]
        if spec is None:
            raise DecodeError(f"unknown type tag 0x{frame[1]:02x}")
        if size > spec.max_frame:
            raise DecodeError(
                f"frame of {size} bytes exceeds the limit of {spec.max_frame}", spec.name
            )
        # One byte compare is the whole array header check below 24 fields.
        if frame[HEADER_BYTES] != spec.head_byte or (
            len(spec.array_head) > 1 and not frame.startswith(spec.array_head, HEADER_BYTES)
        ):
            raise DecodeError(f"the body must be an array of {spec.name}'s fields", spec.name)
        pair = self._per_thread.by_depth.get(spec.depth)
        if pair is None:
            pair = self._new_decoder(spec.depth)
        decoder, stream = pair
        _reset_stream(stream, frame)  # the decoder keeps reading from this stream
        stream.seek(HEADER_BYTES)
        try:
            value = decoder.decode()
        except Exception as exc:
            self._new_decoder(spec.depth)
            raise DecodeError(f"malformed CBOR: {_cbor_reason(exc)}", spec.name) from exc
        end = stream.tell()
        if end != size:
            raise DecodeError(f"{size - end} unexpected bytes after the body", spec.name)
        try:
            return spec.decode(value, spec.name)
        except DecodeError:
            raise
        except Exception as exc:  # a safety net: the generated code should never get here
            raise DecodeError(f"{type(exc).__name__}: {exc}", spec.name) from exc

    def decode_as(self, frame: bytes | bytearray | memoryview, cls: type[T]) -> T:
        """Like ``decode``, but the frame must hold a ``cls``."""
        obj = self.decode(frame)
        if type(obj) is not cls:
            raise DecodeError(f"expected a {cls.__qualname__} frame, got {type(obj).__qualname__}")
        result: T = obj
        return result

    def _new_decoder(self, max_depth: int) -> tuple[Any, BytesIO]:
        stream = BytesIO(b"")
        decoder = cbor2.CBORDecoder(
            stream,
            semantic_decoders=_NO_TAGS,
            tag_hook=_reject_tag,
            max_depth=max_depth,
            allow_indefinite=False,
            allow_duplicate_keys=False,
            strict_hashable_types=True,
        )
        pair = (decoder, stream)
        self._per_thread.by_depth[max_depth] = pair
        return pair


_reset_stream: Final = BytesIO.__init__
"""Points a ``BytesIO`` at new bytes (shared, not copied) without a new object."""


def _cbor_reason(exc: BaseException) -> str:
    """cbor2 wraps the interesting part of an error in __cause__; surface it."""
    reasons = [str(exc)]
    cause = exc.__cause__ or exc.__context__
    while cause is not None and len(reasons) < 4:
        reasons.append(str(cause))
        cause = cause.__cause__ or cause.__context__
    return ": ".join(r for r in reasons if r)
