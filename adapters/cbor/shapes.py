"""Shapes: what the codec derives from attrs field annotations, once, at registration.

A shape says how one value travels: as a scalar, an optional, an enum member,
a nested record, a sequence or a fixed tuple. ``shape_of`` turns an annotation
into a shape and refuses anything the wire format does not carry, so a message
class with an unsupported field fails when it is registered, not when the first
such message is sent.

Supported annotations: ``int``, ``bool``, ``bytes``, ``str``, ``X | None``,
``enum.Enum`` subclasses whose values are all ``int`` or all ``str`` (so
``IntEnum`` too), attrs classes (nested records), unions of attrs classes
(``A | B``, a tagged choice), ``tuple[X, ...]``, ``tuple[X, Y, ...]`` with a
fixed length, and ``frozenset[X]``.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Mapping
from typing import Any, Union

import attrs

_SCALARS: tuple[type, ...] = (int, bool, bytes, str)
_NONE_TYPE = type(None)
_INT_WIDTH = 9  # largest CBOR encoding of an int without a bignum tag


@attrs.frozen(slots=True)
class Scalar:
    """An ``int``, ``bool``, ``bytes`` or ``str``: checked by exact type."""

    type: type


@attrs.frozen(slots=True)
class Maybe:
    """``X | None``: ``None`` travels as CBOR null."""

    inner: Shape


@attrs.frozen(slots=True)
class EnumShape:
    """An enum member, which travels as its value."""

    cls: type[enum.Enum]
    value_type: type  # int or str
    by_value: Mapping[object, enum.Enum] = attrs.field(eq=False)  # derived from cls

    @property
    def passthrough(self) -> bool:
        """Whether members encode as themselves (``IntEnum`` members are ints)."""
        return issubclass(self.cls, int)


@attrs.frozen(slots=True)
class Field:
    name: str
    alias: str  # the ``__init__`` parameter name
    shape: Shape


@attrs.frozen(slots=True)
class Record:
    """An attrs class, which travels as the array of its fields in order."""

    cls: type
    fields: tuple[Field, ...]
    kw_only: bool  # some field must be passed by keyword

    @property
    def name(self) -> str:
        return self.cls.__name__


@attrs.frozen(slots=True)
class Choice:
    """``A | B | ...`` of attrs classes: travels as ``[alternative, fields]``,
    the alternative being the class's position in the union."""

    alternatives: tuple[Record, ...]


@attrs.frozen(slots=True)
class Seq:
    """``tuple[X, ...]``. A sequence of records travels as one flat array."""

    item: Shape


@attrs.frozen(slots=True)
class Fixed:
    """``tuple[X, Y, ...]`` of a fixed length."""

    items: tuple[Shape, ...]


@attrs.frozen(slots=True)
class SetOf:
    """``frozenset[X]``: travels as a sorted array without duplicates."""

    item: Shape


Shape = Scalar | Maybe | EnumShape | Record | Choice | Seq | Fixed | SetOf


def record_shape(cls: type) -> Record:
    """The shape of attrs class ``cls``; raises ``TypeError`` for what cannot travel."""
    return _record(cls, ())


def shape_of(annotation: object, where: str = "value") -> Shape:
    """The shape of a (resolved) annotation; ``where`` names it in errors."""
    return _shape(annotation, where, ())


def _record(cls: type, stack: tuple[type, ...]) -> Record:
    if not attrs.has(cls):
        raise TypeError(f"{cls.__qualname__} is not an attrs class")
    if cls in stack:
        raise TypeError(f"{cls.__qualname__} contains itself; recursive records cannot be encoded")
    try:
        hints = typing.get_type_hints(cls)
    except Exception as exc:
        raise TypeError(f"cannot resolve the annotations of {cls.__qualname__}: {exc}") from exc
    fields = []
    kw_only = False
    for field in attrs.fields(cls):
        where = f"{cls.__qualname__}.{field.name}"
        if not field.init:
            raise TypeError(f"{where}: fields with init=False cannot be decoded")
        if field.name not in hints:
            raise TypeError(f"{where}: the field has no annotation")
        kw_only = kw_only or field.kw_only
        shape = _shape(hints[field.name], where, (*stack, cls))
        fields.append(Field(field.name, field.alias or field.name, shape))
    return Record(cls, tuple(fields), kw_only)


def _shape(annotation: Any, where: str, stack: tuple[type, ...]) -> Shape:
    if annotation in _SCALARS:
        return Scalar(annotation)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Union or origin is types.UnionType:
        others = [a for a in args if a is not _NONE_TYPE]
        if len(others) == 1 and len(args) == 2:
            inner = _shape(others[0], where, stack)
            if isinstance(inner, Maybe):
                raise TypeError(f"{where}: nested optionals are ambiguous")
            return Maybe(inner)
        if len(others) > 1 and all(isinstance(a, type) and attrs.has(a) for a in others):
            choice = Choice(tuple(_record(a, stack) for a in others))
            return Maybe(choice) if len(others) < len(args) else choice
        raise TypeError(
            f"{where}: only `X | None` and unions of attrs classes can be encoded, "
            f"not {annotation!r}"
        )
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return Seq(_shape(args[0], where, stack))
        if args == ((),):  # tuple[()]
            return Fixed(())
        return Fixed(tuple(_shape(a, where, stack) for a in args))
    if origin is frozenset and len(args) == 1:
        item = _shape(args[0], where, stack)
        if not isinstance(item, Scalar | EnumShape):
            raise TypeError(f"{where}: frozenset items must be scalars or enum members")
        return SetOf(item)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return _enum(annotation, where)
    if isinstance(annotation, type) and attrs.has(annotation):
        return _record(annotation, stack)
    raise TypeError(
        f"{where}: cannot encode {annotation!r}; supported are int, bool, bytes, str, "
        "X | None, enums, attrs classes, tuple[X, ...], fixed tuples and frozenset[X]"
    )


def _enum(cls: type[enum.Enum], where: str) -> EnumShape:
    members = list(cls)
    value_types = {type(m.value) for m in members}
    if issubclass(cls, int):
        value_types = {int}
    if value_types not in ({int}, {str}):
        raise TypeError(f"{where}: enum {cls.__qualname__} needs all-int or all-str values")
    value_type = value_types.pop()
    by_value: dict[object, enum.Enum] = {value_type(m.value): m for m in members}
    return EnumShape(cls, value_type, types.MappingProxyType(by_value))


def depth(shape: Shape) -> int:
    """How deeply CBOR arrays nest in the encoding of ``shape`` (scalars: 0)."""
    if isinstance(shape, Scalar | EnumShape):
        return 0
    if isinstance(shape, Maybe):
        return depth(shape.inner)
    if isinstance(shape, Record):
        return 1 + max((depth(f.shape) for f in shape.fields), default=0)
    if isinstance(shape, Choice):
        return 1 + max(depth(alt) for alt in shape.alternatives)
    if isinstance(shape, Seq):
        item = shape.item
        if isinstance(item, Record):  # one flat array of every item's fields
            return 1 + max((depth(f.shape) for f in item.fields), default=0)
        return 1 + depth(item)
    if isinstance(shape, Fixed):
        return 1 + max((depth(s) for s in shape.items), default=0)
    return 1 + depth(shape.item)


def max_size(shape: Shape) -> int | None:
    """Upper bound of the encoded size in bytes, or ``None`` if unbounded."""
    if isinstance(shape, Scalar):
        if shape.type is int:
            return _INT_WIDTH
        if shape.type is bool:
            return 1
        return None
    if isinstance(shape, EnumShape):
        if shape.value_type is int:
            return _INT_WIDTH
        return max(_INT_WIDTH + len(str(v).encode()) for v in shape.by_value)
    if isinstance(shape, Maybe):
        return max_size(shape.inner)
    if isinstance(shape, Choice):
        sizes = [max_size(alt) for alt in shape.alternatives]
        if any(s is None for s in sizes):
            return None
        return 2 * _INT_WIDTH + max(s for s in sizes if s is not None)
    if isinstance(shape, Record | Fixed):
        parts = [f.shape for f in shape.fields] if isinstance(shape, Record) else shape.items
        sizes = [max_size(s) for s in parts]
        if any(s is None for s in sizes):
            return None
        return _INT_WIDTH + sum(s for s in sizes if s is not None)
    return None
