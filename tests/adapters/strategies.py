"""Hypothesis strategies derived from codec shapes, so every registered type gets
round-trip and mutation tests without writing a strategy per message."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from pyconsensus.adapters.cbor import Codec
from pyconsensus.adapters.cbor.shapes import (
    Choice,
    EnumShape,
    Fixed,
    Maybe,
    Record,
    Scalar,
    Seq,
    SetOf,
    Shape,
)

CBOR_INTS = st.integers(min_value=-(2**64), max_value=2**64 - 1)
"""Every int CBOR carries without a bignum tag (the codec refuses tags)."""


def values(shape: Shape) -> st.SearchStrategy[Any]:
    """Values of ``shape`` as the application would hold them."""
    if isinstance(shape, Scalar):
        if shape.type is int:
            return st.one_of(st.integers(min_value=-2, max_value=30), CBOR_INTS)
        if shape.type is bool:
            return st.booleans()
        if shape.type is bytes:
            return st.binary(max_size=24)
        return st.text(max_size=16)
    if isinstance(shape, Maybe):
        return st.none() | values(shape.inner)
    if isinstance(shape, EnumShape):
        return st.sampled_from(list(shape.cls))
    if isinstance(shape, Record):
        fields = {f.alias: values(f.shape) for f in shape.fields}
        cls = shape.cls
        # Classes with validators refuse some values; keep only what builds.
        return st.fixed_dictionaries(fields).map(lambda kw: _build(cls, kw)).filter(_built)
    if isinstance(shape, Choice):
        return st.one_of([values(alt) for alt in shape.alternatives])
    if isinstance(shape, Seq):
        # Long enough to cross the codec's small-batch threshold both ways.
        return st.lists(values(shape.item), max_size=12).map(tuple)
    if isinstance(shape, Fixed):
        return st.tuples(*(values(s) for s in shape.items))
    assert isinstance(shape, SetOf)
    return st.frozensets(values(shape.item), max_size=6)


_REFUSED = object()


def _build(cls: type, kwargs: dict[str, Any]) -> Any:
    try:
        return cls(**kwargs)
    except ValueError:
        return _REFUSED


def _built(obj: object) -> bool:
    return obj is not _REFUSED


def messages(codec: Codec) -> st.SearchStrategy[Any]:
    """Any object of any type ``codec`` registers."""
    return st.one_of([values(codec.shape(cls)) for cls in codec.types.values()])
