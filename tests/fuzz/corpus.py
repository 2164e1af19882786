"""Deterministic sample objects of every type a codec registers, for fuzz seeds
and for the hostile-network suite's mutation runs (no atheris needed).

``sample(shape, rng)`` builds a value of a codec shape the way the
hypothesis strategies in ``tests/adapters/strategies.py`` do, from a seeded
``random.Random`` instead, so that a run can be repeated exactly.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from pyconsensus.adapters.cbor import Codec, shapes


def sample(shape: shapes.Shape, rng: random.Random) -> Any:
    """A value of ``shape``; small numbers, so that ids and indices look real."""
    if isinstance(shape, shapes.Scalar):
        if shape.type is int:
            return rng.randint(0, 5)
        if shape.type is bool:
            return rng.random() < 0.5
        if shape.type is bytes:
            return rng.randbytes(rng.randint(0, 16))
        return rng.choice(["", "test", "raft", "x" * 8])
    if isinstance(shape, shapes.Maybe):
        return None if rng.random() < 0.3 else sample(shape.inner, rng)
    if isinstance(shape, shapes.EnumShape):
        return rng.choice(list(shape.cls))
    if isinstance(shape, shapes.Record):
        return _record(shape, rng)
    if isinstance(shape, shapes.Choice):
        return sample(rng.choice(shape.alternatives), rng)
    if isinstance(shape, shapes.Seq):
        return tuple(sample(shape.item, rng) for _ in range(rng.randint(0, 3)))
    if isinstance(shape, shapes.Fixed):
        return tuple(sample(s, rng) for s in shape.items)
    assert isinstance(shape, shapes.SetOf)
    return frozenset(sample(shape.item, rng) for _ in range(rng.randint(0, 3)))


def _record(shape: shapes.Record, rng: random.Random) -> Any:
    for _ in range(500):  # classes with validators refuse some values (Membership: most)
        kwargs = {f.alias: sample(f.shape, rng) for f in shape.fields}
        try:
            return shape.cls(**kwargs)
        except ValueError:
            continue
    raise AssertionError(f"no valid {shape.name} in 500 tries")


def samples(codec: Codec, seed: int = 0) -> dict[int, object]:
    """One object of every type ``codec`` registers, by tag."""
    rng = random.Random(seed)
    return {tag: sample(codec.shape(cls), rng) for tag, cls in sorted(codec.types.items())}


def write_seed_corpus(codec: Codec, directory: Path) -> int:
    """A frame of every registered type in ``directory`` (libFuzzer's corpus
    layout: one input per file); returns how many."""
    frames = {tag: codec.encode(obj) for tag, obj in samples(codec).items()}
    for tag, frame in frames.items():
        (directory / f"type-{tag:02x}").write_bytes(frame)
    return len(frames)


def mutate(frame: bytes, rng: random.Random) -> bytes:
    """``frame`` with one random change: bits flipped, cut short, bytes
    inserted or repeated - the kinds of damage libFuzzer starts with."""
    data = bytearray(frame)
    kind = rng.randrange(4)
    if kind == 0 and data:
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif kind == 1:
        del data[rng.randint(0, len(data)) :]
    elif kind == 2:
        at = rng.randint(0, len(data))
        data[at:at] = rng.randbytes(rng.randint(1, 8))
    else:
        at = rng.randint(0, len(data))
        data[at:at] = data[at:] * rng.randint(1, 3)
    return bytes(data)
